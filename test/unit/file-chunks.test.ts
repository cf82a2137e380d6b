// File chunks round-trip through the embedded PGlite, whose driver returns bytea as a plain
// Uint8Array where `pg` returns a Buffer, and whose dialect reports no affected-row counts.
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../shared/db/database.ts';
import type { Database } from '../../shared/db/schema.ts';
import { migrateToLatest } from '../../shared/db/migrations.ts';
import { pgliteDialect } from '../../shared/db/pglite-dialect.ts';
import { ChunkSink, deleteFile, readChunks, readLines } from '../../shared/db/files.ts';

let db: Db;

beforeAll(async () => {
  // In memory: the same driver as the on-disk database of `npm start`, nothing left behind.
  db = new Kysely<Database>({ dialect: pgliteDialect(await PGlite.create()) });
  await migrateToLatest(db as Kysely<unknown>);
}, 60_000);
afterAll(async () => db?.destroy());

describe('file chunks on PGlite', () => {
  it('read back as Buffers, split into the lines written', async () => {
    const sink = new ChunkSink(db, 'file-pglite-roundtrip');
    await sink.write('{"custom_id":"a"}\n');
    await sink.write('{"custom_id":"b"}\n');
    await sink.finish();

    for await (const chunk of readChunks(db, sink.fileId)) expect(Buffer.isBuffer(chunk)).toBe(true);
    const lines = [];
    for await (const l of readLines(db, sink.fileId)) lines.push(l.text);
    expect(lines).toEqual(['{"custom_id":"a"}', '{"custom_id":"b"}']);
  });

  it('delete reports whether a file was there: true once, then false', async () => {
    await db
      .insertInto('files')
      .values({ id: 'file-pglite-delete', tenant_id: 't1', purpose: 'batch', filename: 'x.jsonl', bytes: 0, line_count: 0 })
      .execute();
    expect(await deleteFile(db, 't2', 'file-pglite-delete')).toBe(false);
    expect(await deleteFile(db, 't1', 'file-pglite-delete')).toBe(true);
    expect(await deleteFile(db, 't1', 'file-pglite-delete')).toBe(false);
  });
});
