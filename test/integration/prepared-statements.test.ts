// Statements marked as prepared (shared/db/prepared.ts) on each backend. On Postgres the ledger's
// usage insert is a named statement, parsed once per connection (pg_prepared_statements shows it),
// and not with DATABASE_PREPARED_STATEMENTS=0; on the embedded PGlite, whose connections share one
// backend, it stays unnamed, so connections taking turns never collide on a name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { startStack, type Stack } from '../harness/stack.ts';
import { openDatabase, type Db } from '../../shared/db/database.ts';
import { insertUsageJson } from '../../services/ledger/ledger.ts';
import { storedColumns } from '../../shared/nats/usage-message.ts';
import { usageRecord } from '../harness/usage-record.ts';

let stack: Stack;
let n = 0;
const extra: Db[] = [];

beforeAll(async () => {
  stack = await startStack({ ingress: false, worker: false, ledger: false });
});
afterAll(async () => {
  for (const db of extra) await db.destroy();
  await stack?.close();
});

const tenant = `tenant_ps_${Date.now()}`;
const records = (count: number) =>
  Array.from({ length: count }, () => usageRecord({ request_id: `req_ps_${Date.now()}_${++n}`, tenant_id: tenant }));

async function insert(db: Db, count = 3): Promise<number> {
  const batch = records(count);
  return insertUsageJson(db, storedColumns(batch[0]!).split(','), JSON.stringify(batch));
}

/** Named statements of the connection that runs this (a pool of one: the connection that inserted). */
async function preparedOn(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(db);
  return rows.filter((r) => r.statement.includes('json_populate_recordset')).map((r) => r.name);
}

describe('prepared statements', () => {
  it('runs the usage insert as one named statement per connection on Postgres, unnamed on PGlite', async () => {
    if (stack.backend === 'postgres') {
      const db = await openDatabase({ url: stack.env.DATABASE_URL, poolSize: 1, migrate: false });
      extra.push(db);
      expect(await insert(db)).toBe(3);
      expect(await insert(db)).toBe(3);
      const names = await preparedOn(db);
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^sy_prepared_\d+$/);
      // Off: the same statement unnamed.
      const off = await openDatabase({ url: stack.env.DATABASE_URL, poolSize: 1, migrate: false, preparedStatements: false });
      extra.push(off);
      expect(await insert(off)).toBe(3);
      expect(await preparedOn(off)).toEqual([]);
    } else {
      // The embedded pool's connections take turns on one backend: concurrent inserts, no names.
      const counts = await Promise.all(Array.from({ length: 8 }, () => insert(stack.db)));
      expect(counts).toEqual(Array(8).fill(3));
      expect(await preparedOn(stack.db)).toEqual([]);
    }
    const daily = await stack.db.selectFrom('usage_daily').select('requests').where('tenant_id', '=', tenant).execute();
    expect(daily.reduce((s, d) => s + Number(d.requests), 0)).toBe(stack.backend === 'postgres' ? 9 : 24);
  });
});
