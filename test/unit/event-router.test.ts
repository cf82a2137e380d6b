// The ingress's event router hands a request's events over in order. After a NATS reconnect it
// replays the stored events the live subscription missed; a gap nothing fills (an event published
// while its NATS node failed over and never stored) must end the request with stream_interrupted,
// never with the events after the gap as if the stream were whole (cluster.test.ts once saw
// "tok0 tok1 tok2 tok3" followed by [DONE]).
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { EventRouter, QUIET_CHECK_MS, QUIET_RECHECK_MS } from '../../services/ingress/event-router.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

const fakeNats = { subscribe: () => ({ unsubscribe() {} }) } as unknown as NatsConnection;
const chunk = (seq: number, attempt = 1): StreamEvent => ({ type: 'chunk', seq, attempt, delta: { content: `tok${seq}` } }) as StreamEvent;
const done = (seq: number, attempt = 1): StreamEvent =>
  ({
    type: 'done',
    seq,
    attempt,
    finish_reason: 'stop',
    usage: { prompt_tokens: 1, completion_tokens: seq, total_tokens: seq + 1 },
  }) as StreamEvent;

function routerWith(received: StreamEvent[]) {
  const router = new EventRouter(fakeNats, `ing-test-${Math.random().toString(16).slice(2)}`);
  router.register('req_1', { onEvent: (ev) => void received.push(ev), onTimeout: () => {}, deadline: Date.now() + 60_000 });
  return router;
}

describe('EventRouter', () => {
  it('a reconnect replay that skips events ends the request with stream_interrupted', async () => {
    const received: StreamEvent[] = [];
    const router = routerWith(received);
    for (const ev of [chunk(1), chunk(2), chunk(3)]) router.deliverLocal('req_1', ev);
    // Stored: 1..3 (seen), 4 and 5 lost with a NATS node, then the end.
    await router.replayMissed(async () => [chunk(1), chunk(2), chunk(3), done(6)]);
    expect(received.map((e) => e.type)).toEqual(['chunk', 'chunk', 'chunk', 'error']);
    expect((received[3] as Extract<StreamEvent, { type: 'error' }>).error.code).toBe('stream_interrupted');
    expect(router.size).toBe(0);
    router.close();
  });

  it('a reconnect replay without a gap hands over exactly the missed events, in order', async () => {
    const received: StreamEvent[] = [];
    const router = routerWith(received);
    router.deliverLocal('req_1', chunk(1));
    await router.replayMissed(async () => [chunk(3), chunk(1), chunk(2), done(4)]);
    expect(received.map((e) => `${e.type}${e.seq}`)).toEqual(['chunk1', 'chunk2', 'chunk3', 'done4']);
    router.close();
  });

  it('a new delivery (higher attempt) starts again at seq 1 without counting as a gap', async () => {
    const received: StreamEvent[] = [];
    const router = routerWith(received);
    router.deliverLocal('req_1', chunk(1));
    await router.replayMissed(async () => [chunk(1), chunk(1, 2), done(2, 2)]);
    expect(received.map((e) => `${e.type}${e.seq}/${e.attempt}`)).toEqual(['chunk1/1', 'chunk1/2', 'done2/2']);
    router.close();
  });

  it('a request quiet for QUIET_CHECK_MS gets its newest stored event (a live copy lost in a cluster)', async () => {
    const received: StreamEvent[] = [];
    const router = routerWith(received);
    const reads: string[] = [];
    let stored: StreamEvent | null = null;
    router.readLast = async (id) => (reads.push(id), stored);
    const t0 = Date.now();
    router.sweepOnce(t0); // quiet from here
    router.sweepOnce(t0 + QUIET_CHECK_MS - 1);
    expect(reads).toEqual([]);
    router.sweepOnce(t0 + QUIET_CHECK_MS); // nothing stored yet: nothing handed over
    await new Promise((r) => setImmediate(r));
    expect(reads).toEqual(['req_1']);
    expect(received).toEqual([]);
    // The answer is stored (its live copy lost); the next check, QUIET_RECHECK_MS later, hands it over.
    stored = done(1);
    router.sweepOnce(t0 + QUIET_CHECK_MS + QUIET_RECHECK_MS - 1);
    expect(reads).toHaveLength(1);
    router.sweepOnce(t0 + QUIET_CHECK_MS + QUIET_RECHECK_MS);
    await new Promise((r) => setImmediate(r));
    expect(received.map((e) => `${e.type}${e.seq}`)).toEqual(['done1']);
    router.close();
  });

  it('a request that is heard from is not read back, and what it has seen is not handed over again', async () => {
    const received: StreamEvent[] = [];
    const router = routerWith(received);
    const reads: string[] = [];
    router.readLast = async (id) => (reads.push(id), chunk(2));
    const t0 = Date.now();
    router.sweepOnce(t0);
    for (let s = 1; s <= 3; s++) {
      router.deliverLocal('req_1', chunk(s));
      router.sweepOnce(t0 + s * QUIET_CHECK_MS); // an event since the last sweep: still talking
    }
    expect(reads).toEqual([]);
    router.sweepOnce(t0 + 5 * QUIET_CHECK_MS); // quiet now; the stored chunk 2 is old news
    await new Promise((r) => setImmediate(r));
    expect(reads).toEqual(['req_1']);
    expect(received.map((e) => e.seq)).toEqual([1, 2, 3]);
    router.close();
  });

  it('the live copy of an event a quiet check already handed over is dropped, later events are not', async () => {
    const received: StreamEvent[] = [];
    const router = routerWith(received);
    router.readLast = async () => chunk(1);
    const t0 = Date.now();
    router.sweepOnce(t0);
    router.sweepOnce(t0 + QUIET_CHECK_MS);
    await new Promise((r) => setImmediate(r));
    router.deliverLocal('req_1', chunk(1)); // late live copy: no repeated tokens
    router.deliverLocal('req_1', chunk(2));
    router.deliverLocal('req_1', done(3));
    expect(received.map((e) => `${e.type}${e.seq}`)).toEqual(['chunk1', 'chunk2', 'done3']);
    router.close();
  });
});
