// A non-streaming answer whose ingress is in the worker's own process is handed over in memory
// (shared/runtime/local-answers.ts): it reaches the client, the usage ledger counts it once, and it is
// not stored in LLM_EVENTS. Streams still publish every event (they are resumable from any ingress),
// and an ingress in another process still gets its answers through NATS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { STREAMS } from '../../shared/nats/topology.ts';
import { connectNats } from '../../shared/nats/connection.ts';
import { buildIngress } from '../../services/ingress/server.ts';
import { localAnswers } from '../../shared/runtime/local-answers.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

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

/** How many events LLM_EVENTS holds for a request (any ingress). */
async function storedEvents(requestId: string): Promise<number> {
  const info = await stack.runtime.nats.jsm.streams.info(STREAMS.events, { subjects_filter: `llm.evt.*.${requestId}` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

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
    expect(await storedEvents(id)).toBe(0);
  });

  it('still stores every event of a stream (resumable from any ingress)', async () => {
    const res = await chat(stack.url, stack.apiKey, { stream: true });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('data: [DONE]');
    const id = res.headers.get('x-request-id')!;
    expect(await storedEvents(id)).toBeGreaterThan(1);
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
      expect(await storedEvents(id)).toBe(1);
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
