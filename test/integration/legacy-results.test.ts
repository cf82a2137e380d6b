// Upgrading from a version whose batch-results and async-results consumers read LLM_EVENTS: what they
// still hold (published, not yet stored; delivered to a runner that died before acking) is copied into
// LLM_RESULTS, where today's consumers store it, and the old consumers are removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { asyncConsumerNames, ensureTopology, STREAMS, subjects } from '../../shared/nats/topology.ts';
import { moveLegacyResults } from '../../shared/nats/legacy-results.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const log = createLogger('test', 'silent');

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, { providers: ['openai'] });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const pendingSubjects = async (filter: string) =>
  Object.keys((await jsm.streams.info(STREAMS.results, { subjects_filter: filter })).state.subjects ?? {}).sort();

describe('results an earlier version left on LLM_EVENTS', () => {
  it('moves the unstored ones to LLM_RESULTS and removes the old consumers', async () => {
    const js = jetstream(nc);
    // The consumers as the earlier version made them (1 s ack wait here, 30 s there).
    for (const [durable, owner] of [
      [asyncConsumerNames.batchResults, 'batch'],
      [asyncConsumerNames.asyncResults, 'async'],
    ] as const) {
      await jsm.consumers.add(STREAMS.events, {
        durable_name: durable,
        filter_subject: `llm.evt.${owner}.>`,
        ack_policy: AckPolicy.Explicit,
        ack_wait: 1_000_000_000,
      });
    }
    const done = JSON.stringify({ type: 'done', seq: 1, attempt: 1 });
    for (const id of ['b_1-1', 'b_1-2', 'b_1-3']) await js.publish(subjects.events('batch', id), done);
    await js.publish(subjects.events('async', 'req_async1'), done);
    await js.publish(subjects.events('ingress1', 'req_live'), done); // a client's stream: not a result

    // The old runner stored the first line, and took the second but died before acking it.
    const old = await js.consumers.get(STREAMS.events, asyncConsumerNames.batchResults);
    (await old.next())!.ack();
    expect((await old.next())!.subject).toBe('llm.evt.batch.b_1-2');

    expect(await moveLegacyResults(js, jsm, log)).toBe(3);
    expect(await pendingSubjects('llm.res.batch.>')).toEqual(['llm.res.batch.b_1-2', 'llm.res.batch.b_1-3']);
    expect(await pendingSubjects('llm.res.async.>')).toEqual(['llm.res.async.req_async1']);
    expect((await jsm.consumers.info(STREAMS.results, asyncConsumerNames.batchResults)).num_pending).toBe(2);
    expect((await jsm.consumers.info(STREAMS.results, asyncConsumerNames.asyncResults)).num_pending).toBe(1);
    for (const durable of [asyncConsumerNames.batchResults, asyncConsumerNames.asyncResults])
      await expect(jsm.consumers.info(STREAMS.events, durable)).rejects.toThrow(/consumer not found/);
    // The events themselves stay in LLM_EVENTS for status reads and crash recovery.
    expect((await jsm.streams.info(STREAMS.events)).state.messages).toBe(5);

    // Every later start finds nothing to do.
    expect(await moveLegacyResults(js, jsm, log)).toBe(0);
    expect((await jsm.streams.info(STREAMS.results)).state.messages).toBe(3);
  });
});
