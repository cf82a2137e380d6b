// Opens Postgres (DATABASE_URL) or, when unset, an embedded PGlite under .data/ for `npm start`.
import { mkdirSync } from 'node:fs';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';
import { migrateToLatest } from './migrations.ts';

// Postgres returns bigint/numeric as strings by default; counts we sum stay strings at the edge.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export type Db = Kysely<Database>;

export interface OpenDbOptions {
  url?: string | undefined;
  /** Directory for the embedded PGlite database when no url is given. */
  embeddedDir?: string;
  poolSize?: number;
  migrate?: boolean;
}

export async function openDatabase(opts: OpenDbOptions): Promise<Db> {
  let db: Db;
  if (opts.url) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: 5_000,
      // A query on a connection whose server vanished would otherwise wait forever.
      query_timeout: 15_000,
      keepAlive: true,
      idleTimeoutMillis: 30_000,
    });
    // A pool error (database restarted) must not crash the process; queries report it instead.
    pool.on('error', () => {});
    // A checked-out client whose server went away emits 'error' too; the query reports it.
    pool.on('connect', (client) => client.on('error', () => {}));
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    const dir = opts.embeddedDir ?? '.data/pglite';
    mkdirSync(dir, { recursive: true });
    const { PGlite, types } = await import('@electric-sql/pglite');
    const { pgliteDialect } = await import('./pglite-dialect.ts');
    // bigint as a string, as configured for pg above (PGlite's default is a lossy number).
    const client = await PGlite.create(dir, { parsers: { [types.INT8]: (v: string) => v } });
    db = new Kysely<Database>({ dialect: pgliteDialect(client) });
  }
  if (opts.migrate !== false) await migrateToLatest(db as Kysely<unknown>);
  return db;
}

export async function pingDatabase(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
