// The worker's usage batching (services/worker/usage-publisher.ts) on a real nats-server: records of
// one tenant that arrive within the linger (20 ms) are one message in LLM_USAGE, 32 records are
// stored at once without waiting for it, tenants never share a message, and every publish()
// resolves only once its record is stored (the request's ack waits for that).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ensureTopology, STREAMS } from '../../shared/nats/topology.ts';
import { UsagePublisher } from '../../services/worker/usage-publisher.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { usageRecord } from '../harness/usage-record.ts';
import { storedColumns, USAGE_COLUMNS_HEADER } from '../../shared/nats/usage-message.ts';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let publisher: UsagePublisher;
let n = 0;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, { providers: ['openai'] });
  publisher = new UsagePublisher(nc, createLogger('test', 'silent'));
});

afterAll(async () => {
  await publisher?.close();
  await nc?.close();
  await server?.stop();
});

const record = (tenant: string) => usageRecord({ request_id: `req_${++n}`, tenant_id: tenant });

/** Messages stored in LLM_USAGE so far, and the records in them. */
async function stored(): Promise<{ messages: number; records: number }> {
  const { state } = await jsm.streams.info(STREAMS.usage);
  let records = 0;
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(STREAMS.usage, { seq });
    records += (m!.json() as UsageRecord[]).length;
  }
  return { messages: state.messages, records };
}

describe('UsagePublisher', () => {
  it('stores records that arrive within the linger as one message per tenant, and resolves each once stored', async () => {
    const before = await stored();
    const started = Date.now();
    const publishes = [record('t1'), record('t1'), record('t1'), record('t2')].map((r) => publisher.publish(r));
    await Promise.all(publishes);
    // The linger (20 ms) held them. Node measures a timer from the event loop's cached clock, which can
    // be a few ms behind Date.now() on a busy machine, so the bound sits between the 5 ms linger this
    // replaced and the 20 ms one, not at 20.
    expect(Date.now() - started).toBeGreaterThanOrEqual(12);
    const after = await stored();
    expect(after.messages - before.messages).toBe(2); // t1's three records in one message, t2's in another
    expect(after.records - before.records).toBe(4);
  });

  it('stores a batch as soon as it holds 32 records, without waiting for the linger', { timeout: 10_000 }, async () => {
    // A linger no test waits for: only a full batch can be stored here.
    const patient = new UsagePublisher(nc, createLogger('test', 'silent'), { lingerMs: 60_000 });
    const before = await stored();
    const first = Array.from({ length: 31 }, () => patient.publish(record('t3')));
    await new Promise((r) => setTimeout(r, 50));
    expect((await stored()).messages).toBe(before.messages);
    await Promise.all([...first, patient.publish(record('t3'))]);
    const after = await stored();
    expect(after.messages - before.messages).toBe(1);
    expect(after.records - before.records).toBe(32);
    await patient.close();
  });

  it("names the records' fields in a header, one message per field set, for the ledger to insert without parsing", async () => {
    const { state } = await jsm.streams.info(STREAMS.usage);
    const plain = record('t4');
    const hit = { ...record('t4'), cache_hit: true } as UsageRecord;
    await Promise.all([publisher.publish(plain), publisher.publish(hit), publisher.publish(record('t4'))]);
    const messages = [];
    for (let seq = state.last_seq + 1; seq <= (await jsm.streams.info(STREAMS.usage)).state.last_seq; seq++)
      messages.push(await jsm.streams.getMessage(STREAMS.usage, { seq }));
    expect(messages.map((m) => [m!.header.get(USAGE_COLUMNS_HEADER), (m!.json() as UsageRecord[]).length])).toEqual([
      [storedColumns(plain), 2],
      [storedColumns(hit), 1],
    ]);
    expect(storedColumns(hit)).toBe(`${storedColumns(plain)},cache_hit`);
  });

  it('on close, stores what is still lingering and waits for its ack before returning', async () => {
    const closing = new UsagePublisher(nc, createLogger('test', 'silent'), { lingerMs: 60_000 });
    const before = await stored();
    const pending = [closing.publish(record('t5')), closing.publish(record('t5'))];
    await closing.close();
    // Stored by the time close() returns, not merely sent: the ack came back.
    const after = await stored();
    expect(after.messages - before.messages).toBe(1);
    expect(after.records - before.records).toBe(2);
    await expect(Promise.all(pending)).resolves.toBeDefined();
    await expect(closing.publish(record('t5'))).rejects.toThrow(/closed/);
  });

  it('rejects the records of a batch JetStream cannot store once closing ends its retries', { timeout: 20_000 }, async () => {
    // No stream captures the subject: the server answers 503 (no responders), which is retried with
    // backoff; close() stops the retries, and the records are reported, not left pending.
    const lone = await connect({ servers: server.url });
    try {
      await jsm.streams.delete(STREAMS.usage);
      const refused = new UsagePublisher(lone, createLogger('test', 'silent'), { lingerMs: 1 });
      const outcome = refused.publish(record('t6')).then(
        () => 'stored',
        (err: Error) => err.message,
      );
      await new Promise((r) => setTimeout(r, 100)); // the first attempt has failed and is backing off
      await refused.close();
      expect(await outcome).toMatch(/no responders|not available/i);
    } finally {
      await ensureTopology(jsm, { providers: ['openai'] });
      await lone.close();
    }
  });
});
