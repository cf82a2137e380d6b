// LLM_EVENTS on a real nats-server. EVENTS_MAX_BYTES bounds the stream: it is created with
// the cap, holds no more than it (the oldest events go first), and a changed cap reaches a stream that
// already exists at the next start. And the read-back the ingress's quiet-request check uses
// (shared/nats/last-event.ts) finds a request's newest event, or nothing. (A stream's owner record
// shares the cap: test/integration/resume-owner.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '../../shared/config/env.ts';
import { ensureTopology, STREAMS, subjects } from '../../shared/nats/topology.ts';
import { lastStoredEvent } from '../../shared/nats/last-event.ts';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const MiB = 1024 * 1024;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe('EVENTS_MAX_BYTES', () => {
  it('defaults to 512 MiB and takes a positive integer from the environment', () => {
    expect(loadConfig({}).EVENTS_MAX_BYTES).toBe(512 * MiB);
    expect(loadConfig({ EVENTS_MAX_BYTES: String(64 * MiB) }).EVENTS_MAX_BYTES).toBe(64 * MiB);
    expect(() => loadConfig({ EVENTS_MAX_BYTES: '0' })).toThrow(/EVENTS_MAX_BYTES/);
  });

  it('caps LLM_EVENTS, drops the oldest events past the cap, and follows a changed setting', async () => {
    await ensureTopology(jsm, { providers: ['openai'], eventsMaxBytes: 1 * MiB });
    expect((await jsm.streams.info(STREAMS.events)).config.max_bytes).toBe(1 * MiB);

    // 3 MiB of events through a 1 MiB stream.
    const js = jetstream(nc);
    const event = JSON.stringify({ type: 'chunk', text: 'x'.repeat(8 * 1024) });
    for (let i = 0; i < 384; i++) await js.publish(`llm.evt.ing1.req${i}`, event);
    const state = (await jsm.streams.info(STREAMS.events)).state;
    expect(state.bytes).toBeLessThanOrEqual(1 * MiB);
    expect(state.first_seq).toBeGreaterThan(1);
    expect(state.last_seq).toBe(384);

    await ensureTopology(jsm, { providers: ['openai'], eventsMaxBytes: 2 * MiB });
    expect((await jsm.streams.info(STREAMS.events)).config.max_bytes).toBe(2 * MiB);
  });

  it("lastStoredEvent reads a request's newest event, null for a request with none", async () => {
    await ensureTopology(jsm, { providers: ['openai'] });
    const js = jetstream(nc);
    for (const [seq, type] of [
      [1, 'chunk'],
      [2, 'done'],
    ] as const)
      await js.publish(subjects.events('ingQ', 'req_quiet'), JSON.stringify({ type, seq, attempt: 1 }));
    await js.publish(subjects.events('ingQ', 'req_other'), JSON.stringify({ type: 'chunk', seq: 1, attempt: 1 }));
    expect(await lastStoredEvent(jsm, subjects.events('ingQ', 'req_quiet'))).toMatchObject({ type: 'done', seq: 2 });
    expect(await lastStoredEvent(jsm, subjects.events('ingQ', 'req_none'))).toBeNull();
  });
});
