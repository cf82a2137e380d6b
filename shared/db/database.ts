// Opens Postgres (DATABASE_URL) or, when unset, an embedded PGlite under .data/ for `npm start`.
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';
import { migrateToLatest } from './migrations.ts';
import { startEmbeddedPostgres } from './embedded/embedded-postgres.ts';
import { boundQueries } from './query-timeout.ts';

// Postgres returns bigint/numeric as strings by default; counts we sum stay strings at the edge.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export type Db = Kysely<Database>;

export interface OpenDbOptions {
  url?: string | undefined;
  /** Directory for the embedded PGlite database when no url is given. */
  embeddedDir?: string;
  poolSize?: number;
  migrate?: boolean;
  /** Statements marked as prepared (prepared.ts) run as named statements on Postgres (default true). */
  preparedStatements?: boolean;
  /** Bound on every query (default QUERY_TIMEOUT_MS, 15 s); tests set it lower. */
  queryTimeoutMs?: number;
}

export async function openDatabase(opts: OpenDbOptions): Promise<Db> {
  let db: Db;
  if (opts.url) {
    db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: newPool({ connectionString: opts.url }, opts.poolSize ?? 10, opts.queryTimeoutMs, opts.preparedStatements ?? true),
      }),
    });
  } else {
    // The embedded PGlite runs in its own thread behind a Postgres socket: the same driver, types and
    // code paths as real Postgres, and none of its WASM work on this event loop.
    const embedded = await startEmbeddedPostgres(opts.embeddedDir ?? '.data/pglite');
    // PGlite has one backend, so connections take turns (see embedded/wire-session.ts); a few of them let
    // the next statement wait beside PGlite instead of behind a round trip.
    const pool = newPool(
      { host: embedded.socketDir, port: embedded.port, user: 'postgres', database: 'postgres' },
      opts.poolSize ?? 4,
      opts.queryTimeoutMs,
      // One backend shared by every connection: a named statement of one would collide with another's.
      false,
    );
    const endPool = pool.end.bind(pool);
    // db.destroy() ends the pool; the embedded database then closes cleanly with it.
    pool.end = (async () => {
      await endPool();
      await embedded.stop();
    }) as typeof pool.end;
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  if (opts.migrate !== false) {
    // A failed migration must not leave the pool (and the embedded database thread) running.
    await migrateToLatest(db as Kysely<unknown>).catch(async (err: unknown) => {
      await db.destroy().catch(() => {});
      throw err;
    });
  }
  return db;
}

function newPool(target: pg.PoolConfig, max: number, queryTimeoutMs: number | undefined, prepare: boolean): pg.Pool {
  const pool = new pg.Pool({
    ...target,
    max,
    connectionTimeoutMillis: 5_000,
    // No query_timeout here: queries are bounded by boundQueries (query-timeout.ts says why).
    keepAlive: true,
    idleTimeoutMillis: 30_000,
  });
  // A pool error (database restarted) must not crash the process; queries report it instead.
  pool.on('error', () => {});
  // A checked-out client whose server went away emits 'error' too; the query reports it.
  // Every query on it is bounded (a query on a connection whose server vanished would otherwise wait forever).
  pool.on('connect', (client) => {
    client.on('error', () => {});
    boundQueries(client, queryTimeoutMs, prepare);
  });
  return pool;
}

export async function pingDatabase(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
