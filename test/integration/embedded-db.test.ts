// The embedded default database (PGlite in a worker thread behind a Postgres socket): the same types as
// Postgres (bytea as Buffer, so batch files round-trip), transactions isolated between pool connections,
// its WASM work off the caller's event loop, one owner per data directory, and data kept across reopen.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../shared/db/database.ts';
import { ChunkSink, CHUNK_BYTES, readChunks, readLines } from '../../shared/db/files.ts';
import { EmbeddedDatabaseError, startEmbeddedPostgres } from '../../shared/db/embedded/embedded-postgres.ts';
import { execRaw, lastReadyStatus, simpleQuery } from '../../shared/db/embedded/wire-session.ts';
import { PGlite } from '@electric-sql/pglite';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let root: string;
let dir: string;
let db: Db;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sy-embedded-'));
  dir = join(root, 'pglite');
  db = await openDatabase({ embeddedDir: dir });
}, 120_000);
afterAll(async () => {
  await db?.destroy();
  rmSync(root, { recursive: true, force: true });
});

describe('embedded database', () => {
  it('round-trips a batch file through bytea chunks as Buffers, byte for byte', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({ custom_id: `req-${i}`, body: { text: `héllo ✓ ${'x'.repeat(400)}` } }),
    );
    const sink = new ChunkSink(db, 'file-embedded-roundtrip');
    await sink.write(lines.join('\n') + '\n');
    await sink.finish();
    expect(sink.bytes).toBeGreaterThan(CHUNK_BYTES);

    const chunks: Buffer[] = [];
    for await (const c of readChunks(db, 'file-embedded-roundtrip')) chunks.push(c);
    expect(chunks.length).toBe(2);
    for (const c of chunks) expect(Buffer.isBuffer(c)).toBe(true);
    const read: string[] = [];
    for await (const l of readLines(db, 'file-embedded-roundtrip')) read.push(l.text);
    expect(read).toEqual(lines);
  });

  it('keeps a transaction on one connection from swallowing statements of another', async () => {
    await sql`create table if not exists iso_probe (v text primary key)`.execute(db);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const txn = db
      .transaction()
      .execute(async (trx) => {
        await sql`insert into iso_probe values ('inside')`.execute(trx);
        await gate;
        throw new Error('roll back');
      })
      .catch((err: Error) => err.message);
    // While the transaction is open, another statement from the pool waits for its turn, then commits on its own.
    const outside = sql`insert into iso_probe values ('outside')`.execute(db);
    await new Promise((r) => setTimeout(r, 100));
    release();
    expect(await txn).toBe('roll back');
    await outside;
    const rows = await sql<{ v: string }>`select v from iso_probe order by v`.execute(db);
    expect(rows.rows.map((r) => r.v)).toEqual(['outside']);
  });

  it('rolls back the open transaction of a client that vanished and serves the others', async () => {
    const server = await startEmbeddedPostgres(join(root, 'vanish'));
    const connect = async () => {
      const c = new pg.Client({ host: server.socketDir, port: server.port, user: 'postgres', database: 'postgres' });
      await c.connect();
      return c;
    };
    try {
      const gone = await connect();
      gone.on('error', () => {});
      const stays = await connect();
      await stays.query('create table vanish_probe (v int)');
      await gone.query('begin');
      await gone.query('insert into vanish_probe values (1)');
      // Dropped without commit or Terminate, as a killed process would.
      (gone as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      const rows = await stays.query<{ n: string }>('select count(*)::int as n from vanish_probe');
      expect(rows.rows[0]!.n).toBe(0);
      await stays.end();
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('runs PGlite work off the caller event loop', async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = Date.now();
    await sql`select count(*) from generate_series(1, 3000000) g where g % 7 = 3`.execute(db);
    const took = Date.now() - started;
    delay.disable();
    // The query keeps PGlite busy for a while; in-process PGlite blocked this loop for all of it.
    expect(took).toBeGreaterThan(200);
    expect(delay.max / 1e6).toBeLessThan(Math.max(100, took / 3));
  });

  it('refuses a second owner of the directory with one readable line', async () => {
    const err = await openDatabase({ embeddedDir: dir }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(EmbeddedDatabaseError);
    expect((err as Error).message).not.toContain('\n');
  });

  it('keeps data across a close and reopen, takes over the lock of a killed owner, and names a damaged store in one line', async () => {
    const other = join(root, 'reopen');
    const first = await openDatabase({ embeddedDir: other });
    await sql`create table kept (v text)`.execute(first);
    await sql`insert into kept values ('before close')`.execute(first);
    await first.destroy();
    // A lock left by a process that no longer exists (SIGKILL) must not block the next start.
    writeFileSync(`${other}.lock`, '999999');
    const second = await openDatabase({ embeddedDir: other });
    const rows = await sql<{ v: string }>`select v from kept`.execute(second);
    expect(rows.rows).toEqual([{ v: 'before close' }]);
    await second.destroy();

    // A damaged store (what in-process PGlite answered with `RuntimeError: Aborted()` and ~90 KB of
    // minified source): one line that says what broke and what to do, and the lock is released.
    truncateSync(join(other, 'global', 'pg_control'), 100);
    const err = await openDatabase({ embeddedDir: other }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(EmbeddedDatabaseError);
    expect((err as Error).message).toMatch(/cannot be opened \(.*pg_control.*\): stop other Switchyard processes, or move the folder away/);
    expect((err as Error).message).not.toContain('\n');
    expect((err as Error).message.length).toBeLessThan(500);
    expect(existsSync(`${other}.lock`)).toBe(false);
  }, 120_000);

  it('creates the database whole or not at all: a first start killed mid-initdb leaves nothing to trip over', async () => {
    const fresh = join(root, 'first-start');
    // What a killed first start can leave: a half-written initdb folder, and a data folder without PG_VERSION.
    mkdirSync(`${fresh}.initdb-4242/base`, { recursive: true });
    mkdirSync(join(fresh, 'global'), { recursive: true });
    writeFileSync(join(fresh, 'global', 'pg_control'), 'half');
    const opened = await openDatabase({ embeddedDir: fresh });
    expect((await sql<{ one: number }>`select 1 as one`.execute(opened)).rows).toEqual([{ one: 1 }]);
    await opened.destroy();
    const left = readdirSync(root);
    expect(left.filter((f) => f.startsWith('first-start.initdb-'))).toEqual([]);
    expect(left.filter((f) => f.startsWith('first-start.incomplete-'))).toHaveLength(1);
  }, 120_000);
});

describe('the wire session on PGlite', () => {
  // PGlite 0.5.16's execProtocolRaw keeps every answer's parsed messages until an execProtocol call
  // clears them; a session that only speaks raw protocol must not (wire-session.ts, execRaw).
  it('keeps nothing per statement: 20,000 answers leave the heap where it was', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const lite = await PGlite.create();
    try {
      const query = simpleQuery('select 1 as one, now() as at');
      const answer = await execRaw(lite, query);
      expect(lastReadyStatus(answer)).toBe('I');
      for (let i = 0; i < 1_000; i++) await execRaw(lite, query);
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 20_000; i++) await execRaw(lite, query);
      gc();
      const grewMb = (process.memoryUsage().heapUsed - before) / 1e6;
      // With execProtocolRaw instead: 13.4 MB (about 670 bytes per answer, kept).
      expect(grewMb).toBeLessThan(2);
    } finally {
      await lite.close();
    }
  }, 120_000);
});
