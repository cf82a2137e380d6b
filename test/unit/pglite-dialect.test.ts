// The PGlite dialect behind `npm start`: one embedded session shared by every service in the process.
import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDialect } from '../../shared/db/pglite-dialect.ts';

interface Db {
  t: { x: number };
}
let db: Kysely<Db>;

beforeAll(async () => {
  db = new Kysely<Db>({ dialect: pgliteDialect(await PGlite.create()) });
  await sql`create table t (x int)`.execute(db);
}, 60_000);
afterAll(async () => db?.destroy());

describe('PGlite dialect', () => {
  it("a write made while another caller's transaction is open survives that transaction's rollback", async () => {
    const rolledBack = db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('t').values({ x: 1 }).execute();
        await new Promise((r) => setTimeout(r, 100));
        throw new Error('roll back');
      })
      .catch((err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 20));
    await db.insertInto('t').values({ x: 2 }).execute();
    expect(await rolledBack).toBe('roll back');
    expect(await db.selectFrom('t').select('x').execute()).toEqual([{ x: 2 }]);
  });

  it('reports affected rows, as the pg dialect does', async () => {
    const res = await db.updateTable('t').set({ x: 3 }).where('x', '=', 2).executeTakeFirst();
    expect(res.numUpdatedRows).toBe(1n);
    expect((await db.deleteFrom('t').where('x', '=', 99).executeTakeFirst()).numDeletedRows).toBe(0n);
  });
});
