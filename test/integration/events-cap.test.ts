// EVENTS_MAX_BYTES bounds the in-memory LLM_EVENTS stream on a real nats-server: the stream is created
// with the cap, holds no more than it (the oldest events go first), and a changed cap reaches a stream
// that already exists at the next start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '../../shared/config/env.ts';
import { ensureTopology, STREAMS } from '../../shared/nats/topology.ts';
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
});
