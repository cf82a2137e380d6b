// The ingress's event router hands a request's events over in order. After a NATS reconnect it
// replays the stored events the live subscription missed; a gap nothing fills (an event published
// while its NATS node failed over and never stored) must end the request with stream_interrupted,
// never with the events after the gap as if the stream were whole (cluster.test.ts once saw
// "tok0 tok1 tok2 tok3" followed by [DONE]).
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { EventRouter } from '../../services/ingress/event-router.ts';
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
});
