// Every query through openDatabase is bounded (shared/db/query-timeout.ts), on each backend: a statement
// that outlives the bound fails with QueryTimeoutError instead of waiting, its connection is dropped,
// and the pool goes on answering; results, parameters and SQL errors pass through unchanged.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { openDatabase, type Db } from '../../shared/db/database.ts';
import { QueryTimeoutError } from '../../shared/db/query-timeout.ts';
import { createDatabase } from '../harness/postgres.ts';

const BOUND_MS = 500;
let db: Db;
let dir: string | null = null;

beforeAll(async () => {
  if (inject('backend') === 'pglite') {
    dir = mkdtempSync(join(tmpdir(), 'sy-query-timeout-'));
    const template = inject('pgliteTemplate');
    if (template) cpSync(template, join(dir, 'pglite'), { recursive: true });
    db = await openDatabase({ embeddedDir: join(dir, 'pglite'), queryTimeoutMs: BOUND_MS });
  } else {
    db = await openDatabase({ url: await createDatabase(inject('databaseUrl'), `query_timeout_${Date.now()}`), queryTimeoutMs: BOUND_MS });
  }
});
afterAll(async () => {
  await db?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('passes results, parameters and SQL errors through', async () => {
  const { rows } = await sql<{ n: number; s: string }>`select ${41}::int + 1 as n, ${'ok'}::text as s`.execute(db);
  expect(rows).toEqual([{ n: 42, s: 'ok' }]);
  const err = await sql`select * from no_such_table`.execute(db).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: '42P01' }); // Postgres's own error, not a timeout
  expect(err).not.toBeInstanceOf(QueryTimeoutError);
});

it('fails a statement that outlives the bound, and the pool keeps answering', async () => {
  const started = Date.now();
  // Without the bound this returns normally after 4 s.
  const err = await sql`select pg_sleep(4)`.execute(db).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(QueryTimeoutError);
  expect(Date.now() - started).toBeGreaterThanOrEqual(BOUND_MS - 50);

  // The timed-out connection was closed, not handed back with a reply still owed on it: every
  // connection of the pool answers its own query (PGlite's one backend may first finish the sleep).
  const answers = await Promise.all(
    Array.from({ length: 6 }, (_, i) => sql<{ i: number }>`select ${i}::int as i`.execute(db).then((r) => r.rows[0]!.i)),
  );
  expect(answers).toEqual([0, 1, 2, 3, 4, 5]);
}, 30_000);
