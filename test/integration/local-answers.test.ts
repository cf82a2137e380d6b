// An answer whose ingress is in the worker's own process is handed over in memory
// (shared/runtime/local-answers.ts): a non-streaming one reaches the client, the usage ledger counts
// it once, and it is not stored in LLM_EVENTS. A stream's events reach the client in memory too and
// are stored in batches (services/worker/local-stream.ts), since a stream is resumable from any
// ingress. An ingress in another process still gets its answers through NATS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { STREAMS } from '../../shared/nats/topology.ts';
import { decodeOwnerRecord } from '../../shared/nats/stored-events.ts';
import type { MsgRequest } from '@nats-io/jetstream';
import { connectNats } from '../../shared/nats/connection.ts';
import { buildIngress } from '../../services/ingress/server.ts';
import { localAnswers } from '../../shared/runtime/local-answers.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { storedEvents } from '../../services/ingress/reconnect-replay.ts';
import { STORE_LINGER_MS } from '../../services/worker/local-stream.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

const chat = (url: string, apiKey: string, body: object) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], ...body }),
  });

/** How many messages LLM_EVENTS holds for a request (any ingress). */
async function storedMessages(requestId: string): Promise<number> {
  const info = await stack.runtime.nats.jsm.streams.info(STREAMS.events, { subjects_filter: `llm.evt.*.${requestId}` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/** Messages a stream's events took: all but its owner record, the first one (services/ingress/resumable.ts). */
async function eventMessagesOfStream(requestId: string): Promise<number> {
  const query = { next_by_subj: `llm.evt.*.${requestId}`, seq: 0 } as unknown as MsgRequest;
  const first = await stack.runtime.nats.jsm.streams.getMessage(STREAMS.events, query);
  expect(first && decodeOwnerRecord(first.data)).toMatchObject({ tenantId: expect.any(String) });
  return (await storedMessages(requestId)) - 1;
}

/** The events those messages hold, oldest first, as every reader of LLM_EVENTS decodes them. */
const eventsStored = (requestId: string) => storedEvents(stack.runtime.nats, requestId, { waitMs: 300 });

/** The `id:` of every SSE frame (the worker event's seq). */
const frameIds = (sse: string) => [...sse.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

/** A stream from the mock: `tokens` tokens `itlMs` apart (each token a read of its own, as from a real model). */
const spacedStream = (tokens: number, itlMs: number) => ({
  stream: true,
  messages: [{ role: 'user', content: `hello\nmock:${JSON.stringify({ tokens, itl_ms: itlMs })}` }],
});

async function usageRows(requestId: string): Promise<number> {
  const rows = await stack.runtime.db!.selectFrom('usage').select('request_id').where('request_id', '=', requestId).execute();
  return rows.length;
}

describe('answers handed over in memory', () => {
  it('answers a non-streaming request without storing its final event, and bills it once', async () => {
    const res = await chat(stack.url, stack.apiKey, {});
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]!.message.content.length).toBeGreaterThan(0);
    const id = res.headers.get('x-request-id')!;
    await waitFor(async () => (await usageRows(id)) === 1, { what: 'usage row' });
    expect(await storedMessages(id)).toBe(0);
  });

  it('relays a stream in memory and stores every event it sent, in far fewer messages', async () => {
    const delivered: string[] = [];
    const restore = spyOnLocalDeliveries(delivered);
    try {
      const started = Date.now();
      const res = await chat(stack.url, stack.apiKey, spacedStream(40, 2));
      expect(res.status).toBe(200);
      const sse = await res.text();
      const elapsedMs = Date.now() - started;
      expect(sse).toContain('data: [DONE]');
      const id = res.headers.get('x-request-id')!;
      expect(delivered).toContain(id);
      const stored = await eventsStored(id);
      // What the client got is what a resume would replay: every chunk, then the done event (its
      // finish frame has the done's seq, the usage frame seq + 1).
      expect(stored.at(-1)?.type).toBe('done');
      const seqs = stored.map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(frameIds(sse)).toEqual(seqs);
      expect(stored.filter((e) => e.type === 'chunk').length).toBeGreaterThan(2); // tokens came over several reads
      // One message per chunk before; now the first read's chunks, a batch per STORE_LINGER_MS while
      // the stream ran (however slow the machine made it), and the rest with the done.
      const messages = await eventMessagesOfStream(id);
      expect(messages).toBeLessThan(stored.length);
      expect(messages).toBeLessThanOrEqual(3 + Math.ceil(elapsedMs / STORE_LINGER_MS));
    } finally {
      restore();
    }
  });

  it('stores an answer that arrived in one upstream read as one message, with its done event', async () => {
    const res = await chat(stack.url, stack.apiKey, spacedStream(20, 0));
    expect(res.status).toBe(200);
    const sse = await res.text();
    const id = res.headers.get('x-request-id')!;
    const stored = await eventsStored(id);
    expect(stored.at(-1)?.type).toBe('done');
    expect(stored.filter((e) => e.type === 'chunk').length).toBeGreaterThan(0);
    expect(frameIds(sse)).toEqual(stored.map((e) => e.seq));
    // Before, the first chunk was stored on its own as it went out, and the rest with the done.
    expect(await eventMessagesOfStream(id)).toBe(1);
  });

  it('stores relayed chunks within the linger while the stream is still running', async () => {
    const res = await chat(stack.url, stack.apiKey, spacedStream(3, 2_000));
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id')!;
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let seen = '';
    while (!seen.includes('tok1')) seen += dec.decode((await reader.read()).value);
    // The client has the second token; the third is two seconds away. The first chunk was stored at
    // the end of its turn, the second must follow within the linger (100 ms), not wait for the end of the
    // stream: a reader of LLM_EVENTS (a resume on another ingress) is never more than that behind.
    // (1 s of slack for a loaded machine, and still a second before the stream could end.)
    await waitFor(async () => (await eventsStored(id)).filter((e) => e.type === 'chunk').length >= 2, {
      what: 'the second chunk stored',
      timeoutMs: 1_000,
    });
    expect((await eventsStored(id)).some((e) => e.type === 'done')).toBe(false);
    await reader.cancel();
  });

  it('an ingress in another process gets its answer through NATS, stored in LLM_EVENTS', async () => {
    // A second ingress built with LOCAL_ANSWERS=0 is not registered for in-memory answers: for this
    // process's worker it is exactly an ingress in another process.
    const nats = await connectNats(stack.env.NATS_URL!, 'remote-ingress');
    process.env.LOCAL_ANSWERS = '0';
    const remote = await buildIngress({ config: stack.runtime.config, nats, db: stack.runtime.db!, log: stack.runtime.log }).finally(
      () => delete process.env.LOCAL_ANSWERS,
    );
    const delivered: string[] = [];
    const restore = spyOnLocalDeliveries(delivered);
    try {
      await remote.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = remote.app.server.address() as { port: number };
      const res = await chat(`http://127.0.0.1:${port}`, stack.apiKey, {});
      expect(res.status).toBe(200);
      const id = res.headers.get('x-request-id')!;
      expect(delivered).not.toContain(id);
      expect(await storedMessages(id)).toBe(1);
      // The in-process ingress still answers in memory meanwhile.
      const local = await chat(stack.url, stack.apiKey, {});
      expect(local.status).toBe(200);
      expect(delivered).toContain(local.headers.get('x-request-id'));
    } finally {
      restore();
      await remote.close();
      await nats.nc.close();
    }
  });
});

/** Records the request ids handed over in memory (wraps the registry's deliver). */
function spyOnLocalDeliveries(into: string[]): () => void {
  const original = localAnswers.deliver;
  localAnswers.deliver = (ingressId: string, requestId: string, ev: StreamEvent) => {
    const handed = original(ingressId, requestId, ev);
    if (handed) into.push(requestId);
    return handed;
  };
  return () => {
    localAnswers.deliver = original;
  };
}
