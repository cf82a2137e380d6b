// The ledger's one-statement insert (services/ledger/ledger.ts insertUsage) on the real database of
// each backend: new rows are counted once and rolled up per UTC day, tenant and model; a record seen
// again (redelivery, duplicate publish) changes nothing.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { insertUsage } from '../../services/ledger/ledger.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import { usageRecord } from '../harness/usage-record.ts';
import { createTenant } from '../../shared/db/tenants.ts';

let stack: Stack;
let tenant: string;
beforeAll(async () => {
  stack = await startStack({ ingress: false, worker: false, ledger: false });
  tenant = (await createTenant(stack.db, { name: 'ledger-insert' })).id;
});
afterAll(async () => stack?.close());

function record(id: string, over: Partial<UsageRecord> = {}): UsageRecord {
  return usageRecord({
    request_id: id,
    tenant_id: tenant,
    input_tokens: 10,
    cached_input_tokens: 2,
    output_tokens: 5,
    reasoning_tokens: 1,
    cost_usd: 0.00012345,
    received_at: '2026-03-04T23:59:59.500Z',
    completed_at: '2026-03-05T00:00:00.100Z',
    ...over,
  });
}

async function daily() {
  return stack.db.selectFrom('usage_daily').selectAll().where('tenant_id', '=', tenant).orderBy('day').orderBy('model').execute();
}

it('inserts new rows once and rolls them up by UTC day, tenant and model', async () => {
  const first = [record('li-1'), record('li-2', { model: 'openai/gpt-4o', first_token_at: '2026-03-05T00:00:00.050Z' }), record('li-3')];
  expect(await insertUsage(stack.db, first)).toBe(3);
  // A redelivered batch with one new record: only the new one counts.
  expect(await insertUsage(stack.db, [record('li-1'), record('li-4', { received_at: '2026-03-05T00:00:01.000Z', cost_usd: 1.5 })])).toBe(1);
  expect(await insertUsage(stack.db, [record('li-2')])).toBe(0);

  const row = await stack.db.selectFrom('usage').selectAll().where('request_id', '=', 'li-2').executeTakeFirstOrThrow();
  expect(row).toMatchObject({ tenant_id: tenant, model: 'openai/gpt-4o', input_tokens: 10, cached_input_tokens: 2, attempts: 1 });
  expect(new Date(row.first_token_at!).toISOString()).toBe('2026-03-05T00:00:00.050Z');
  expect(row.recorded_at).toBeTruthy();

  const days = (await daily()).map((d) => ({
    day: typeof d.day === 'string' ? d.day.slice(0, 10) : new Date(d.day as unknown as Date).toISOString().slice(0, 10),
    model: d.model,
    requests: Number(d.requests),
    input: Number(d.input_tokens),
    output: Number(d.output_tokens),
    cost: Number(d.cost_usd),
  }));
  expect(days).toEqual([
    { day: '2026-03-04', model: 'openai/gpt-4o', requests: 1, input: 10, output: 5, cost: 0.00012345 },
    { day: '2026-03-04', model: 'openai/gpt-4o-mini', requests: 2, input: 20, output: 10, cost: 0.0002469 },
    { day: '2026-03-05', model: 'openai/gpt-4o-mini', requests: 1, input: 10, output: 5, cost: 1.5 },
  ]);
});

it('refuses a record field that is not a plain column name', async () => {
  const bad = { ...record('li-9'), 'x; drop table usage': 1 } as unknown as UsageRecord;
  await expect(insertUsage(stack.db, [bad])).rejects.toThrow(/not a column name/);
  // Not two columns either: a field name is checked whole.
  const joined = { ...record('li-10'), 'input_tokens,output_tokens': 1 } as unknown as UsageRecord;
  await expect(insertUsage(stack.db, [joined])).rejects.toThrow(/not a column name/);
});

it('takes a batch mixing field sets: an omitted field gets its column default, a traceparent is not stored', async () => {
  const plain = record('li-20');
  const hit = { ...record('li-21'), cache_hit: true, cost_usd: 0 } as UsageRecord;
  const traced = { ...record('li-22'), traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } as UsageRecord;
  expect(await insertUsage(stack.db, [plain, hit, traced])).toBe(3);
  const rows = await stack.db
    .selectFrom('usage')
    .select(['request_id', 'cache_hit'])
    .where('request_id', 'in', ['li-20', 'li-21', 'li-22'])
    .orderBy('request_id')
    .execute();
  expect(rows).toEqual([
    { request_id: 'li-20', cache_hit: false },
    { request_id: 'li-21', cache_hit: true },
    { request_id: 'li-22', cache_hit: false },
  ]);
});
