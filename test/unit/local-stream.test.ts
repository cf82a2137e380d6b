// A stream whose ingress is in the worker's process: its events reach the ingress in memory, in order,
// at the end of the turn they were emitted in, and LLM_EVENTS gets them in batches (JSON arrays) that
// every reader decodes like single events (services/worker/local-stream.ts, shared/nats/last-event.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { LocalStream, STORE_LINGER_MS, STORE_MAX_CHARS } from '../../services/worker/local-stream.ts';
import { decodeStoredEvents, StoredBatch } from '../../shared/nats/stored-events.ts';
import { localAnswers } from '../../shared/runtime/local-answers.ts';
import { EventRouter } from '../../services/ingress/event-router.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

const chunk = (seq: number, content = `tok${seq}`): StreamEvent => ({ type: 'chunk', seq, attempt: 1, delta: { content } }) as StreamEvent;
const done = (seq: number): StreamEvent =>
  ({
    type: 'done',
    seq,
    attempt: 1,
    finish_reason: 'stop',
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  }) as StreamEvent;
const enc = new TextEncoder();
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** An ingress registered in this process that records what it is handed. */
function ingressHere(id: string, received: Array<[string, StreamEvent]>) {
  return localAnswers.register(id, (requestId, ev) => {
    received.push([requestId, ev]);
    return true;
  });
}

afterEach(() => void vi.useRealTimers());

describe('LocalStream', () => {
  it('hands events over at the end of the turn, in order; stores the first batch at the end of that turn, the next ones once the linger has passed', async () => {
    const received: Array<[string, StreamEvent]> = [];
    const unregister = ingressHere('ing-ls-1', received);
    const stored: string[] = [];
    const s = new LocalStream('ing-ls-1', 'req_a', (batch) => stored.push(batch));
    const seqs = () => stored.map((b) => decodeStoredEvents(enc.encode(b)).map((e) => e.seq));
    s.chunk(chunk(1));
    s.chunk(chunk(2));
    s.chunk(chunk(3));
    expect(received).toEqual([]); // not in the emitting call: in one go at the end of the turn
    expect(stored).toEqual([]);
    await nextTurn();
    expect(received.map(([id, ev]) => [id, ev.seq])).toEqual([
      ['req_a', 1],
      ['req_a', 2],
      ['req_a', 3],
    ]);
    // The turn's chunks are stored as they go out, the store first: a redelivery after a crash sees
    // that the attempt spoke.
    expect(seqs()).toEqual([[1, 2, 3]]);
    s.chunk(chunk(4));
    await nextTurn();
    expect(seqs()).toEqual([[1, 2, 3]]);
    await new Promise((r) => setTimeout(r, STORE_LINGER_MS + 30));
    expect(seqs()).toEqual([[1, 2, 3], [4]]);
    unregister();
  });

  it('stores the first batch before the relay hands it over when its stream is the first of the turn', async () => {
    const order: string[] = [];
    const unregister = localAnswers.register('ing-ls-3', () => {
      order.push('relayed');
      return true;
    });
    const s = new LocalStream('ing-ls-3', 'req_d', () => void order.push('stored'));
    s.chunk(chunk(1));
    await nextTurn();
    expect(order).toEqual(['stored', 'relayed']);
    unregister();
  });

  it('an answer that ends in the turn it began is stored once, with its final event; later chunks go with the final batch', () => {
    vi.useFakeTimers();
    const stored: string[] = [];
    const s = new LocalStream('ing-nowhere', 'req_b', (batch) => stored.push(batch));
    s.chunk(chunk(1));
    s.chunk(chunk(2));
    const last = s.final(done(3));
    expect(decodeStoredEvents(enc.encode(last)).map((e) => [e.type, e.seq])).toEqual([
      ['chunk', 1],
      ['chunk', 2],
      ['done', 3],
    ]);
    vi.advanceTimersByTime(STORE_LINGER_MS * 10);
    expect(stored.length).toBe(0); // the end-of-turn store went with the final batch

    const later = new LocalStream('ing-nowhere', 'req_b2', (batch) => stored.push(batch));
    later.chunk(chunk(1));
    vi.advanceTimersByTime(0); // the end of the turn
    later.chunk(chunk(2));
    const rest = later.final(done(3));
    expect(decodeStoredEvents(enc.encode(rest)).map((e) => [e.type, e.seq])).toEqual([
      ['chunk', 2],
      ['done', 3],
    ]);
    vi.advanceTimersByTime(STORE_LINGER_MS * 10);
    expect(stored.map((b) => decodeStoredEvents(enc.encode(b)).map((e) => e.seq))).toEqual([[1]]); // the linger timer went with the final batch
  });

  it('stores a batch as soon as it is full, without waiting for the end of the turn or the linger', () => {
    vi.useFakeTimers();
    const stored: string[] = [];
    const s = new LocalStream('ing-nowhere', 'req_c', (batch) => stored.push(batch));
    const big = 'x'.repeat(STORE_MAX_CHARS / 4);
    s.chunk(chunk(1));
    for (let seq = 2; seq <= 5; seq++) s.chunk(chunk(seq, big));
    expect(stored.length).toBe(1);
    expect(decodeStoredEvents(enc.encode(stored[0]!)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    s.chunk(chunk(6));
    vi.advanceTimersByTime(STORE_LINGER_MS);
    expect(decodeStoredEvents(enc.encode(stored[1]!)).map((e) => e.seq)).toEqual([6]);
  });

  it('events for an ingress that no longer waits are dropped without disturbing the others', async () => {
    const received: Array<[string, StreamEvent]> = [];
    const unregister = localAnswers.register('ing-ls-2', (requestId, ev) => {
      if (requestId === 'req_bad') throw new Error('a broken handler');
      received.push([requestId, ev]);
      return requestId === 'req_ok';
    });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      localAnswers.relay('ing-ls-2', 'req_bad', chunk(1));
      localAnswers.relay('ing-ls-2', 'req_gone', chunk(1));
      localAnswers.relay('ing-ls-2', 'req_ok', chunk(1));
      await nextTurn();
      await nextTurn();
      expect(received.map(([id]) => id)).toEqual(['req_gone', 'req_ok']);
      expect(warnings.map((w) => w.message)).toContain('a broken handler');
    } finally {
      process.off('warning', onWarning);
      unregister();
    }
  });
});

describe('decodeStoredEvents', () => {
  it('reads one event, a batch, and nothing from what a worker did not write', () => {
    expect(decodeStoredEvents(enc.encode(JSON.stringify(chunk(3))))).toEqual([chunk(3)]);
    expect(decodeStoredEvents(enc.encode(JSON.stringify([chunk(1), chunk(2), done(3)]))).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(decodeStoredEvents(enc.encode('not json'))).toEqual([]);
    expect(decodeStoredEvents(enc.encode('42'))).toEqual([]);
    expect(decodeStoredEvents(enc.encode('[1, null, "x"]'))).toEqual([]);
  });
});

describe('StoredBatch', () => {
  const encodeStoredEvents = (events: StreamEvent[]) => {
    const batch = new StoredBatch();
    for (const ev of events) batch.add(ev);
    return batch.take();
  };
  const reasoning = (seq: number): StreamEvent =>
    ({ type: 'chunk', seq, attempt: 1, delta: { reasoning_content: `think${seq}` } }) as StreamEvent;
  const roundTrip = (events: StreamEvent[]) => decodeStoredEvents(enc.encode(encodeStoredEvents(events)));

  it('stores a run of plain text chunks as one record and reads back exactly the events it stands for', () => {
    const events = [chunk(1, 'He'), chunk(2, 'llo'), chunk(3, ''), chunk(4, ' "wörld" \\ \n'), done(5)];
    const batch = encodeStoredEvents(events);
    expect(JSON.parse(batch)).toHaveLength(2); // the four chunks, then the done event
    expect(batch.length).toBeLessThan(JSON.stringify(events).length * 0.7);
    expect(roundTrip(events)).toEqual(events);
  });

  it('keeps anything that is not a plain text chunk as it is, and starts a new run after it', () => {
    const first = { ...chunk(1), provider: 'openai', attempts: 1 } as StreamEvent;
    const tool = { type: 'chunk', seq: 4, attempt: 1, delta: { tool_calls: [{ index: 0, function: { arguments: '{}' } }] } } as StreamEvent;
    const both = { type: 'chunk', seq: 7, attempt: 1, delta: { content: 'a', reasoning_content: 'b' } } as StreamEvent;
    const filtered = { type: 'chunk', seq: 8, attempt: 1, delta: { content: 'x' }, finish_reason: 'content_filter' } as StreamEvent;
    const events = [first, chunk(2), chunk(3), tool, reasoning(5), reasoning(6), both, filtered, chunk(9), done(10)];
    expect(roundTrip(events)).toEqual(events);
    // A gap in seqs or another attempt ends a run: each event keeps its own seq and attempt.
    const gaps = [chunk(1), chunk(2), chunk(4), { ...chunk(5), attempt: 2 } as StreamEvent, { ...chunk(6), attempt: 2 } as StreamEvent];
    expect(roundTrip(gaps)).toEqual(gaps);
    expect(JSON.parse(encodeStoredEvents(gaps))).toHaveLength(3);
    // Reasoning straight after content (consecutive seqs) is a run of its own.
    const switched = [chunk(1), chunk(2), reasoning(3), reasoning(4), chunk(5)];
    expect(roundTrip(switched)).toEqual(switched);
    expect(JSON.parse(encodeStoredEvents(switched))).toHaveLength(3);
  });

  it('a malformed text run yields only what is well formed', () => {
    const junk = '[{"type":"texts","seq":3,"attempt":1,"content":["a",7,"c"]},{"type":"texts","seq":"x","attempt":1,"content":["z"]}]';
    expect(decodeStoredEvents(enc.encode(junk)).map((e) => [e.seq, e.type === 'chunk' && e.delta.content])).toEqual([
      [3, 'a'],
      [5, 'c'],
    ]);
  });
});

describe('the ingress inbox and stored batches', () => {
  it('ignores a batch on its subject: its events were handed over in memory already', () => {
    let inbox: ((err: Error | null, msg: { subject: string; data: Uint8Array }) => void) | undefined;
    const nats = {
      subscribe: (_s: string, opts: { callback: typeof inbox }) => {
        inbox = opts.callback;
        return { unsubscribe() {} };
      },
    } as unknown as NatsConnection;
    const router = new EventRouter(nats, 'ing-inbox');
    const received: StreamEvent[] = [];
    router.register('req_1', { onEvent: (ev) => void received.push(ev), onTimeout: () => {}, deadline: Date.now() + 60_000 });
    router.deliverLocal('req_1', chunk(1));
    inbox!(null, { subject: 'llm.evt.ing-inbox.req_1', data: enc.encode(JSON.stringify([chunk(1)])) });
    inbox!(null, { subject: 'llm.evt.ing-inbox.req_1', data: enc.encode(JSON.stringify(chunk(2))) });
    expect(received.map((e) => e.seq)).toEqual([1, 2]);
    router.close();
  });
});
