// The worker's usage batches inserted through the ledger of its own process (npm start's layout:
// UsagePublisher with a UsageStore, services/ledger/ledger.ts's `store`), on a real nats-server and
// the database of each backend: rows land without a message in LLM_USAGE, and a publish resolves only
// once they are committed. An insert that fails, or has not committed by the deadline, sends its batch
// through LLM_USAGE as before, and every request is still one row, counted once in the daily rollup,
// whichever path stored it first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { startStack, type Stack } from '../harness/stack.ts';
import { consumerNames, STREAMS } from '../../shared/nats/topology.ts';
import { MAX_STORES_IN_FLIGHT, UsagePublisher, type UsageStore } from '../../services/worker/usage-publisher.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { usageRecord } from '../harness/usage-record.ts';
import { waitFor } from '../harness/ports.ts';

let stack: Stack;
let n = 0;
const log = createLogger('test', 'silent');
const publishers: UsagePublisher[] = [];

beforeAll(async () => {
  stack = await startStack({ ingress: false, worker: false });
});
afterAll(async () => {
  for (const p of publishers) await p.close().catch(() => {});
  await stack?.close();
});

const tenantOf = (name: string) => `tenant_ud_${name}_${Date.now()}`;
const record = (tenant: string, over: Partial<UsageRecord> = {}) =>
  usageRecord({ request_id: `req_ud_${Date.now()}_${++n}`, tenant_id: tenant, output_tokens: 2, ...over });

function publisherWith(
  store: UsageStore,
  opts: { maxBatch?: number; lingerMs?: number; storeDeadlineMs?: number; storeRetryMs?: number } = {},
): UsagePublisher {
  const p = new UsagePublisher(stack.runtime.nats.nc, log, { store, ...opts });
  publishers.push(p);
  return p;
}

/** The ledger's store, counting its calls; `before` runs first and may throw or wait. */
function countingStore(before: (call: number) => Promise<void> | void = () => {}, after: (call: number) => void = () => {}) {
  const calls = { n: 0 };
  const store: UsageStore = {
    async store(columns, json, records) {
      const call = ++calls.n;
      await before(call);
      await stack.ledger!.store(columns, json, records);
      after(call);
    },
  };
  return { store, calls };
}

const usageLastSeq = async () => (await stack.runtime.nats.jsm.streams.info(STREAMS.usage)).state.last_seq;

async function rowsOf(tenant: string) {
  return stack.db.selectFrom('usage').select(['request_id', 'output_tokens']).where('tenant_id', '=', tenant).execute();
}

async function dailyRequests(tenant: string): Promise<number> {
  const daily = await stack.db.selectFrom('usage_daily').select('requests').where('tenant_id', '=', tenant).execute();
  return daily.reduce((sum, d) => sum + Number(d.requests), 0);
}

describe('usage inserted directly by the ledger of the same process', () => {
  it('commits the rows before a publish resolves, and sends nothing to LLM_USAGE', async () => {
    const { store, calls } = countingStore();
    const publisher = publisherWith(store);
    const [t1, t2] = [tenantOf('a'), tenantOf('b')];
    const seq = await usageLastSeq();
    const records = [record(t1), record(t1), record(t1, { output_tokens: 9 }), record(t2)];
    // Rows are read as each publish resolves: a publish that resolved before its commit would find none.
    const publishes = records.map((r) => publisher.publish(r).then(() => rowsOf(r.tenant_id)));
    // Their requests wait only for this now (the worker's early-run bound does not count them).
    expect(publisher.pending).toBe(4);
    const seen = await Promise.all(publishes);
    expect(publisher.pending).toBe(0);
    for (const [i, r] of records.entries()) expect(seen[i]!.map((row) => row.request_id)).toContain(r.request_id);
    expect(calls.n).toBe(1); // one field set: both tenants in one statement
    expect(await usageLastSeq()).toBe(seq);
    expect((await rowsOf(t1)).length).toBe(3);
    expect(await dailyRequests(t1)).toBe(3);
    expect(await dailyRequests(t2)).toBe(1);
  });

  it('inserts 64 records at once, without waiting for the linger', async () => {
    const { store, calls } = countingStore();
    // A linger no test waits for: only a full batch can be inserted here.
    const publisher = publisherWith(store, { lingerMs: 60_000 });
    const tenant = tenantOf('full');
    const first = Array.from({ length: 63 }, () => publisher.publish(record(tenant)));
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.n).toBe(0);
    await Promise.all([...first, publisher.publish(record(tenant))]);
    expect(calls.n).toBe(1);
    expect((await rowsOf(tenant)).length).toBe(64);
  });

  it('sends a batch the insert refused through LLM_USAGE, then skips the insert until storeRetryMs has passed', async () => {
    const { store, calls } = countingStore((call) => {
      if (call === 1) throw new Error('database away');
    });
    const publisher = publisherWith(store, { storeRetryMs: 1_500 });
    const tenant = tenantOf('refused');
    const seq = await usageLastSeq();
    const first = [record(tenant), record(tenant)];
    await Promise.all(first.map((r) => publisher.publish(r)));
    const failedAt = Date.now();
    expect(await usageLastSeq()).toBe(seq + 1);
    // Within storeRetryMs (right away: a linger later) the insert is not tried again.
    await publisher.publish(record(tenant));
    expect(Date.now() - failedAt).toBeLessThan(1_500); // else this step proves nothing
    expect(calls.n).toBe(1);
    expect(await usageLastSeq()).toBe(seq + 2);
    // The ledger stores what went through LLM_USAGE.
    await waitFor(async () => (await rowsOf(tenant)).length === 3, { what: 'ledger rows', timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, Math.max(0, failedAt + 1_600 - Date.now())));
    const seqAfter = await usageLastSeq();
    await publisher.publish(record(tenant));
    expect(calls.n).toBe(2);
    expect(await usageLastSeq()).toBe(seqAfter);
    await waitFor(async () => (await rowsOf(tenant)).length === 4, { what: 'all rows', timeoutMs: 10_000 });
    expect(await dailyRequests(tenant)).toBe(4);
  });

  it('counts a request once when its insert committed but reported a failure, and LLM_USAGE brought it again', async () => {
    const { store } = countingStore(
      () => {},
      () => {
        throw new Error('connection lost after the commit');
      },
    );
    const publisher = publisherWith(store);
    const tenant = tenantOf('twice');
    const seq = await usageLastSeq();
    await Promise.all([record(tenant), record(tenant), record(tenant)].map((r) => publisher.publish(r)));
    expect(await usageLastSeq()).toBe(seq + 1);
    // The ledger has had the message once its consumer acked it.
    await waitFor(
      async () => (await stack.runtime.nats.jsm.consumers.info(STREAMS.usage, consumerNames.ledger)).ack_floor.stream_seq >= seq + 1,
      { what: 'ledger acked the copy', timeoutMs: 10_000 },
    );
    expect((await rowsOf(tenant)).length).toBe(3);
    expect(await dailyRequests(tenant)).toBe(3);
  });

  it('sends a batch whose insert is late through LLM_USAGE without waiting for it; the late commit counts nothing twice', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { store } = countingStore((call) => (call === 1 ? gate : undefined));
    const publisher = publisherWith(store, { storeDeadlineMs: 300 });
    const tenant = tenantOf('late');
    const batch = [record(tenant), record(tenant)];
    const started = Date.now();
    await Promise.all(batch.map((r) => publisher.publish(r)));
    // After the deadline, not after the insert (the gate is still closed): it went through LLM_USAGE.
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(5_000);
    await waitFor(async () => (await rowsOf(tenant)).length === 2, { what: 'rows through the ledger', timeoutMs: 10_000 });
    open();
    // The late insert runs now; let it finish (close waits for it), then check nothing counted twice.
    await publisher.close();
    expect((await rowsOf(tenant)).length).toBe(2);
    expect(await dailyRequests(tenant)).toBe(2);
  });

  it('runs at most two inserts at once: a batch that finds both busy goes through LLM_USAGE at once', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { store, calls } = countingStore(() => gate);
    // One record a batch, a deadline no test waits for: only the in-flight bound can send one on.
    const publisher = publisherWith(store, { maxBatch: 1, storeDeadlineMs: 60_000 });
    const tenant = tenantOf('busy');
    const seq = await usageLastSeq();
    const held = [publisher.publish(record(tenant)), publisher.publish(record(tenant))];
    const started = Date.now();
    await publisher.publish(record(tenant));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(calls.n).toBe(MAX_STORES_IN_FLIGHT);
    expect(await usageLastSeq()).toBe(seq + 1);
    open();
    await Promise.all(held);
    await waitFor(async () => (await rowsOf(tenant)).length === 3, { what: 'all three rows', timeoutMs: 10_000 });
    expect(await dailyRequests(tenant)).toBe(3);
  });

  it('resolves a late batch when the insert commits even though LLM_USAGE refused it, and fails it when both failed', async () => {
    // A connection of its own, closed, so every LLM_USAGE publish fails at once.
    const nc = await connect({ servers: stack.env.NATS_URL });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { store } = countingStore((call) => {
      if (call === 1) return gate;
      throw new Error('database away');
    });
    const publisher = new UsagePublisher(nc, log, { store, storeDeadlineMs: 100, storeRetryMs: 0 });
    await nc.close();
    const tenant = tenantOf('either');
    const late = record(tenant);
    let settled = false;
    const first = publisher.publish(late).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 400)); // past the deadline; its LLM_USAGE publish has failed
    expect(settled).toBe(false);
    open();
    await first;
    expect((await rowsOf(tenant)).map((r) => r.request_id)).toEqual([late.request_id]);
    await expect(publisher.publish(record(tenant))).rejects.toThrow();
    expect((await rowsOf(tenant)).length).toBe(1);
    await publisher.close();
  });
});
