// A resumable stream's owner record on a real nats-server: the first message on the stream's own
// subject in LLM_EVENTS (no KV bucket, so no second subject per stream in nats-server's indexes).
// Found by the ingress that wrote it and by any other from the request id alone (never a wildcard); invisible to every reader of events (the live
// event router, stored-event reads, the last-event check); gone with the oldest events under
// EVENTS_MAX_BYTES; and read from the old LLM_REQUEST_OWNERS bucket while one exists (an upgrade).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Dispatcher } from '../../services/ingress/dispatcher.ts';
import { EventRouter } from '../../services/ingress/event-router.ts';
import { replayAfterReconnect } from '../../services/ingress/reconnect-replay.ts';
import { StreamResume, type StreamOwner } from '../../services/ingress/resumable.ts';
import { requestIdMaker } from '../../services/ingress/request-ids.ts';
import type { Nats } from '../../shared/nats/connection.ts';
import { lastStoredEvent } from '../../shared/nats/last-event.ts';
import { decodeOwnerRecord, decodeStoredEvents, encodeOwnerRecord } from '../../shared/nats/stored-events.ts';
import { ensureTopology, removeDrainedOwnersBucket, REQUEST_OWNERS_BUCKET, STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let nats: Nats;
const MiB = 1024 * 1024;
const owner: StreamOwner = { tenantId: 'tenant-a', model: 'openai/gpt-4o-mini', created: 1_800_000_000, includeUsage: true };
const enc = new TextEncoder();

const resumeOn = (ingressId: string) =>
  StreamResume.create({ nats, dispatcher: { ingressId } as Dispatcher, log: createLogger('test', 'silent'), graceMs: 10_000 });

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  nats = { nc, js: jetstream(nc), jsm } as Nats;
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

beforeEach(async () => {
  await jsm.streams.delete(STREAMS.events).catch(() => {});
  await jsm.streams.delete(`KV_${REQUEST_OWNERS_BUCKET}`).catch(() => {});
  await ensureTopology(jsm, { providers: ['openai'], eventsMaxBytes: 1 * MiB });
});

describe('owner record', () => {
  it('is the first message on the stream subject and is found from any ingress by the id alone', async () => {
    // Ingress ids as server.ts makes them, so request ids name their ingress (request-ids.ts).
    const [ingA, ingB] = ['ing0123456789ab', 'ingba9876543210'];
    const a = await resumeOn(ingA);
    const b = await resumeOn(ingB);
    const id = requestIdMaker(ingA)();
    a.remember(id, owner);
    await nats.js.publish(subjects.events(ingA, id), JSON.stringify({ type: 'chunk', delta: { content: 'hi' }, seq: 1, attempt: 1 }));

    const first = await jsm.streams.getMessage(STREAMS.events, { seq: 1 });
    expect(first?.subject).toBe(subjects.events(ingA, id));
    expect(decodeOwnerRecord(first!.data)).toEqual(owner);

    const stored = { ...owner, subject: subjects.events(ingA, id) };
    expect(await a.owner(id)).toEqual(stored);
    expect(await b.owner(id)).toEqual(stored); // another ingress: the subject the id names
    expect(await a.owner(requestIdMaker(ingA)())).toBeNull();
    // An id that does not name its ingress (made before ids did) is found only where it was made:
    // no ingress reads a wildcard over all of them (a scan of LLM_EVENTS any tenant could ask for).
    a.remember('req_1', owner);
    await expect.poll(() => a.owner('req_1')).toEqual({ ...owner, subject: subjects.events(ingA, 'req_1') });
    expect(await b.owner('req_1')).toBeNull();
    // A hostile id must not become a wildcard over other streams' records.
    for (const bad of ['*', '>', 'req_1.x', 'req_*', '', 'req 1', `${id}.>`]) expect(await b.owner(bad)).toBeNull();
    expect((await jsm.streams.list().next()).map((s) => s.config.name)).not.toContain(`KV_${REQUEST_OWNERS_BUCKET}`);
    a.close();
    b.close();
  });

  it('is found behind events stored before it, and is never read as an event', async () => {
    const a = await resumeOn('ingA');
    const subject = subjects.events('ingA', 'req_2');
    // Not the order the ingress publishes in (the owner goes first), but a reader must not depend on it.
    await nats.js.publish(subject, '[{"type":"chunk","delta":{"content":"a"},"seq":1,"attempt":1}]');
    await nats.js.publish(subject, encodeOwnerRecord(owner));
    expect(await lastStoredEvent(jsm, subject)).toBeNull(); // only the owner is last: no event yet
    await nats.js.publish(subject, '[{"type":"done","finish_reason":"stop","seq":2,"attempt":1}]');

    const found = await a.owner('req_2');
    expect(found).toEqual({ ...owner, subject });
    expect(await lastStoredEvent(jsm, subject)).toMatchObject({ type: 'done', seq: 2 });
    expect((await a.snapshot(found!)).map((e) => e.type)).toEqual(['chunk', 'done']);
    const replayed: StreamEvent[] = [];
    await a.replay(found!, 0, (ev) => (replayed.push(ev), ev.type !== 'chunk'), { maxWaitMs: 5_000 });
    expect(replayed.map((e) => [e.type, e.seq])).toEqual([
      ['chunk', 1],
      ['done', 2],
    ]);
    expect(decodeStoredEvents(enc.encode(encodeOwnerRecord(owner)))).toEqual([]);
    expect(decodeOwnerRecord(enc.encode('[{"type":"done","seq":2,"attempt":1}]'))).toBeNull();
    a.close();
  });

  it('never reaches a waiting request through the event router', async () => {
    const a = await resumeOn('ingA');
    const router = new EventRouter(nc, 'ingA');
    const seen: StreamEvent[] = [];
    router.register('req_3', { onEvent: (ev) => seen.push(ev), onTimeout: () => {}, deadline: Date.now() + 60_000 });
    a.remember('req_3', owner);
    nc.publish(subjects.events('ingA', 'req_3'), JSON.stringify({ type: 'chunk', delta: { content: 'x' }, seq: 1, attempt: 1 }));
    await nc.flush();
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]).toMatchObject({ type: 'chunk', seq: 1 });
    router.close();
    a.close();
  });

  it("is skipped when an ingress reads its own requests' events back, on their literal subject", async () => {
    const router = new EventRouter(nc, 'ingA');
    replayAfterReconnect(nats, router, 'ingA', createLogger('test', 'silent'));
    const a = await resumeOn('ingA');
    a.remember('req_4', owner);
    await nats.js.publish(subjects.events('ingA', 'req_4'), '[{"type":"chunk","delta":{"content":"a"},"seq":1,"attempt":1}]');
    // The same id on another ingress's subject: a wildcard read would mix it in.
    await nats.js.publish(subjects.events('ingZ', 'req_4'), '[{"type":"chunk","delta":{"content":"z"},"seq":2,"attempt":1}]');
    const events = await router.readStored!('req_4');
    expect(events).toEqual([{ type: 'chunk', delta: { content: 'a' }, seq: 1, attempt: 1 }]);
    router.close();
    a.close();
  });

  it('goes with the oldest events under EVENTS_MAX_BYTES', async () => {
    const a = await resumeOn('ingA');
    // ~2.5 MiB of streams (an owner and one batch of ~400 bytes each) through the 1 MiB LLM_EVENTS.
    const batch = `[{"type":"texts","seq":1,"attempt":1,"content":["${'x'.repeat(300)}"]},{"type":"done","seq":2,"attempt":1}]`;
    for (let i = 0; i < 5_000; i++) {
      a.remember(`req_${i}`, owner);
      nc.publish(subjects.events('ingA', `req_${i}`), batch);
      if (i % 500 === 0) await nc.flush();
    }
    await nc.flush();
    await expect.poll(async () => (await jsm.streams.info(STREAMS.events)).state.last_seq).toBe(10_000);
    expect((await jsm.streams.info(STREAMS.events)).state.bytes).toBeLessThanOrEqual(1 * MiB);
    expect(await a.owner('req_0')).toBeNull(); // the oldest went first...
    expect(await a.owner('req_4999')).toMatchObject({ tenantId: 'tenant-a' }); // ...the newest stayed
    a.close();
  });

  it('is read from the old LLM_REQUEST_OWNERS bucket while one exists', async () => {
    // As a version before the move left it: a KV bucket with a stream's owner.
    const kv = await new Kvm(nats.js).create(REQUEST_OWNERS_BUCKET, { history: 1, ttl: 600_000 });
    await kv.put('req_old', JSON.stringify(owner));
    const a = await resumeOn('ingA');
    expect(await a.owner('req_old')).toEqual({ ...owner, subject: subjects.eventsOfRequest('req_old') });
    a.remember('req_new', owner);
    await expect.poll(() => a.owner('req_new')).toEqual({ ...owner, subject: subjects.events('ingA', 'req_new') });
    expect(await kv.get('req_new')).toBeNull(); // nothing is written there any more
    a.close();
  });

  it('has the old bucket removed at a start once it is empty, not before', async () => {
    const kv = await new Kvm(nats.js).create(REQUEST_OWNERS_BUCKET, { history: 1, ttl: 600_000 });
    await kv.put('req_old', JSON.stringify(owner));
    expect(await removeDrainedOwnersBucket(jsm)).toBe(false); // a record some resume may still need
    await jsm.streams.purge(`KV_${REQUEST_OWNERS_BUCKET}`); // as when its records have aged out
    expect(await removeDrainedOwnersBucket(jsm)).toBe(true);
    expect((await jsm.streams.list().next()).map((s) => s.config.name)).not.toContain(`KV_${REQUEST_OWNERS_BUCKET}`);
    expect(await removeDrainedOwnersBucket(jsm)).toBe(false); // nothing to remove
  });
});
