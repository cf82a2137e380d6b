// LLM_EVENTS on a real nats-server. EVENTS_MAX_BYTES bounds the stream: it is created with
// the cap, holds no more than it (the oldest events go first), and a changed cap reaches a stream that
// already exists at the next start. And the read-back the ingress's quiet-request check uses
// (shared/nats/last-event.ts) finds a request's newest event, or nothing. The resume owners bucket
// is capped at a quarter of it, oldest records first, including a bucket created before the cap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '../../shared/config/env.ts';
import { Kvm } from '@nats-io/kv';
import { ensureRequestOwnersBucket, ensureTopology, REQUEST_OWNERS_BUCKET, STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { Nats } from '../../shared/nats/connection.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import type { Dispatcher } from '../../services/ingress/dispatcher.ts';
import { StreamResume } from '../../services/ingress/resumable.ts';
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

  it('caps the resume owners bucket at a quarter of it, dropping the oldest owners first', async () => {
    const owners = `KV_${REQUEST_OWNERS_BUCKET}`;
    await jsm.streams.delete(owners).catch(() => {});
    // A bucket as it was created before the cap: no byte limit, and KV's own discard-new.
    await new Kvm(nc).create(REQUEST_OWNERS_BUCKET, { history: 1, ttl: 600_000 });
    expect((await jsm.streams.info(owners)).config).toMatchObject({ max_bytes: -1, discard: 'new' });

    const nats = { nc, js: jetstream(nc), jsm } as Nats;
    // What every process's start does (boot.ts), then the ingress's resume on that bucket.
    const open = async (eventsMaxBytes: number) => {
      await ensureRequestOwnersBucket(nats.js, jsm, { eventsMaxAgeSeconds: 600, eventsMaxBytes });
      return StreamResume.create({ nats, dispatcher: {} as Dispatcher, log: createLogger('test', 'silent'), graceMs: 10_000 });
    };
    const resume = await open(1 * MiB);
    expect((await jsm.streams.info(owners)).config).toMatchObject({ max_bytes: 256 * 1024, discard: 'old', max_age: 600 * 1e9 });

    // ~1.2 MiB of owner records through the 256 KiB bucket.
    const owner = { tenantId: 'tenant-a', model: 'openai/gpt-4o-mini', created: 1_800_000_000, includeUsage: false, pad: 'x'.repeat(120) };
    for (let i = 0; i < 5_000; i++) resume.remember(`req_${i}`, owner);
    await nc.flush();
    const state = (await jsm.streams.info(owners)).state;
    expect(state.bytes).toBeLessThanOrEqual(256 * 1024);
    expect(state.last_seq - state.first_seq + 1).toBeLessThan(5_000);
    expect(await resume.owner('req_0')).toBeNull(); // the oldest went first...
    expect(await resume.owner('req_4999')).toMatchObject({ tenantId: 'tenant-a' }); // ...the newest stayed
    resume.close();

    // A changed EVENTS_MAX_BYTES reaches the bucket at the next start.
    (await open(2 * MiB)).close();
    expect((await jsm.streams.info(owners)).config.max_bytes).toBe(512 * 1024);
  });
});
