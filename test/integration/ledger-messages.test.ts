// What the ledger (services/ledger/ledger.ts) makes of LLM_USAGE messages, on a real nats-server and
// the database of each backend: messages whose Sy-Usage-Columns header names their fields are inserted
// as they are, messages without it are parsed, a request id in two messages is one row, and a message
// the database refuses for its content is terminated instead of holding every other record back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { consumerNames, STREAMS, subjects } from '../../shared/nats/topology.ts';
import { storedColumns, usageHeaders } from '../../shared/nats/usage-message.ts';
import { insertUsageJson } from '../../services/ledger/ledger.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import { usageRecord } from '../harness/usage-record.ts';
import { waitFor } from '../harness/ports.ts';

let stack: Stack;
let n = 0;
const tenant = `tenant_lm_${Date.now()}`;

beforeAll(async () => {
  stack = await startStack({ ingress: false, worker: false });
});
afterAll(async () => stack?.close());

const record = (over: Partial<UsageRecord> = {}) => usageRecord({ request_id: `req_lm_${Date.now()}_${++n}`, tenant_id: tenant, ...over });

/** Publishes records (or raw text) as one LLM_USAGE message, with the header unless `columns` is null. */
async function publish(records: UsageRecord[] | string, columns: string | null = storedColumns((records as UsageRecord[])[0]!)) {
  const body = typeof records === 'string' ? records : JSON.stringify(records);
  await stack.runtime.nats.js.publish(subjects.usage(tenant), body, columns === null ? {} : { headers: usageHeaders(columns) });
}

async function rows(ids: string[]) {
  return stack.db.selectFrom('usage').selectAll().where('request_id', 'in', ids).orderBy('request_id').execute();
}

/** Every message handed to the ledger has been acked or terminated. */
async function ledgerSettled() {
  await waitFor(
    async () => {
      const info = await stack.runtime.nats.jsm.consumers.info(STREAMS.usage, consumerNames.ledger);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    { what: 'ledger consumer settled', timeoutMs: 15_000 },
  );
}

describe('ledger messages', () => {
  it('inserts header-named messages as they are; a request id in two messages is one row, rolled up once', async () => {
    const [a, b, c] = [record({ output_tokens: 7 }), record({ output_tokens: 11 }), record({ output_tokens: 13 })];
    // Published back to back, so both are normally in one ledger batch (one statement).
    await Promise.all([publish([a!, b!]), publish([b!, c!])]);
    for (const r of [a!, b!, c!]) await waitForUsageRow(stack.db, r.request_id);
    await ledgerSettled();
    expect((await rows([a!.request_id, b!.request_id, c!.request_id])).map((r) => r.output_tokens)).toEqual([7, 11, 13]);
  });

  it('stores a request id once when one array holds it twice, and counts it once', async () => {
    const r = record({ tenant_id: `${tenant}_dup`, output_tokens: 5 });
    const columns = storedColumns(r).split(',');
    expect(await insertUsageJson(stack.db, columns, JSON.stringify([r, r]))).toBe(1);
    expect(await insertUsageJson(stack.db, columns, JSON.stringify([r]))).toBe(0);
    const daily = await stack.db.selectFrom('usage_daily').selectAll().where('tenant_id', '=', `${tenant}_dup`).execute();
    expect(daily.map((d) => [Number(d.requests), Number(d.output_tokens)])).toEqual([[1, 5]]);
  });

  it("parses a message without the header (an older producer's), and gives an omitted field its column default", async () => {
    const old = record();
    const hit = { ...record(), cache_hit: true } as UsageRecord;
    await publish([old], null);
    await publish([hit]);
    await waitForUsageRow(stack.db, old.request_id);
    await waitForUsageRow(stack.db, hit.request_id);
    expect((await rows([old.request_id, hit.request_id])).map((r) => r.cache_hit)).toEqual([false, true]);
  });

  it('stores the records of a message whose header does not match them, by parsing it', async () => {
    // The header claims cache_hit, the record lacks it: inserted as named, cache_hit would be null.
    const r = record();
    await publish([r], `${storedColumns(r)},cache_hit`);
    const row = await waitForUsageRow(stack.db, r.request_id);
    expect(row.cache_hit).toBe(false);
    // A header naming a column the table does not have, or one twice.
    const [s, t] = [record(), record()];
    await publish([s], `${storedColumns(s)},bogus_column`);
    await publish([t], `${storedColumns(t)},model`);
    for (const r of [s, t]) await waitForUsageRow(stack.db, r.request_id);
  });

  it('terminates the messages the database refuses and stores every other record of the batch', async () => {
    const good = [record(), record(), record()];
    const bad = record();
    const badColumns = storedColumns(bad);
    // Back to back, so the refused ones share batches with the good ones.
    await Promise.all([
      publish([good[0]!]),
      publish(JSON.stringify([{ ...bad, input_tokens: 'many' }]), badColumns), // not an integer
      publish(JSON.stringify([{ ...bad, request_id: `${bad.request_id}_n`, tenant_id: null }]), badColumns), // NOT NULL
      publish(`[${JSON.stringify(bad).slice(0, 40)}`, badColumns), // cut short
      publish(JSON.stringify([bad]), `${badColumns},x; drop table usage`), // not a column name
      publish([good[1]!]),
      publish(JSON.stringify([{ ...bad, request_id: `${bad.request_id}_p`, received_at: 'soon-ish' }]), null), // no header: parsed
      publish([good[2]!]),
    ]);
    for (const r of good) await waitForUsageRow(stack.db, r.request_id);
    await ledgerSettled();
    // The bad record stored once, from the one message that named a column that does not exist (its
    // records are parsed, and they are fine); the refused messages are gone, not waiting to be redelivered.
    expect((await rows([bad.request_id, `${bad.request_id}_n`, `${bad.request_id}_p`])).map((r) => r.request_id)).toEqual([bad.request_id]);
    // And the ledger goes on.
    const after = record();
    await publish([after]);
    await waitForUsageRow(stack.db, after.request_id);
  });

  it('keeps a message with a field the usage table lacks, rather than losing it (a producer newer than the schema)', async () => {
    const r = { ...record(), future_field: 1 } as unknown as UsageRecord;
    const h = natsHeaders();
    h.set('Sy-Usage-Columns', storedColumns(r));
    await stack.runtime.nats.js.publish(subjects.usage(tenant), JSON.stringify([r]), { headers: h });
    await waitFor(async () => (await stack.runtime.nats.jsm.consumers.info(STREAMS.usage, consumerNames.ledger)).num_ack_pending === 1, {
      what: 'the message held unacked',
      timeoutMs: 10_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const info = await stack.runtime.nats.jsm.consumers.info(STREAMS.usage, consumerNames.ledger);
    expect(info.num_ack_pending).toBe(1); // still held: neither acked nor terminated
    expect(await rows([r.request_id])).toEqual([]);
  });
});
