// Resumable streams and async requests against real NATS + Postgres: a stream cut after N chunks and
// resumed with Last-Event-ID on another ingress process gets exactly the rest; a dropped stream is
// not cancelled while it is resumed; Prefer: respond-async -> 202 -> poll -> result; tenants apart.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, startStack, type ChildService, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { createKey, createTenant } from '../../shared/db/tenants.ts';

let stack: Stack;
let other: ChildService;
let otherUrl: string;

beforeAll(async () => {
  stack = await startStack({ env: { STREAM_RESUME_GRACE_MS: '1500' } });
  const port = await freePort();
  // PGlite belongs to this process: there the other ingress runs here, on its own NATS connection.
  if (currentBackend() === 'pglite') await stack.startIngress({ port });
  else other = await stack.spawn('ingress', { PORT: String(port), LOG_LEVEL: 'warn' });
  otherUrl = `http://127.0.0.1:${port}`;
});
afterAll(async () => stack?.close());

interface Frame {
  id?: string;
  event?: string;
  data: string;
}

/** Reads SSE frames until `stop` says so or the stream ends; returns frames and the raw text. */
async function readSse(res: Response, stop?: (frames: Frame[]) => boolean) {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let raw = '';
  const frames: Frame[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = dec.decode(value, { stream: true });
    raw += text;
    buf += text;
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const f: Frame = { data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) f.id = line.slice(4);
        else if (line.startsWith('event: ')) f.event = line.slice(7);
        else if (line.startsWith('data: ')) f.data += line.slice(6);
      }
      frames.push(f);
    }
    if (stop?.(frames)) {
      await reader.cancel();
      break;
    }
  }
  return { frames, raw };
}

const contentOf = (frames: Frame[]) =>
  frames
    .filter((f) => f.data.startsWith('{'))
    .flatMap((f) => (JSON.parse(f.data) as { choices: Array<{ delta: { content?: string } }> }).choices.map((c) => c.delta.content ?? ''))
    .join('');

const auth = () => ({ authorization: `Bearer ${stack.apiKey}` });

describe('resumable streams', () => {
  it('a stream cut after N chunks resumes on another ingress with no gap and no duplicate', async () => {
    stack.mock.reset();
    const ac = new AbortController();
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'long\nmock:{"tokens":60,"itl_ms":15}' }],
      }),
    });
    const requestId = res.headers.get('x-request-id')!;
    const first = await readSse(res, (fs) => fs.filter((f) => f.id).length >= 7);
    ac.abort();
    const ids = first.frames.flatMap((f) => (f.id ? [Number(f.id)] : []));
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // The OpenAI framing is kept: every frame is one `data:` JSON chunk, the id line before it.
    expect(first.raw.startsWith('data: {"id":"chatcmpl-')).toBe(true);
    expect(first.raw).toContain('\nid: 1\ndata: {"id":"chatcmpl-');

    const resumed = await fetch(`${otherUrl}/v1/requests/${requestId}/events`, { headers: { ...auth(), 'last-event-id': '7' } });
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get('content-type')).toContain('text/event-stream');
    const rest = await readSse(resumed);
    const restIds = rest.frames.flatMap((f) => (f.id ? [Number(f.id)] : []));
    expect(restIds[0]).toBe(8);
    expect(new Set(restIds).size).toBe(restIds.length);
    expect(rest.frames.at(-1)!.data).toBe('[DONE]');
    const usage = rest.frames.find((f) => f.data.includes('"usage":{'));
    expect(usage).toBeDefined();
    const full = contentOf(first.frames) + contentOf(rest.frames);
    expect(full).toBe(Array.from({ length: 60 }, (_, i) => (i ? ` tok${i}` : 'tok0')).join(''));
    // Same chunk id and created as the original stream, so a client can stitch them.
    const headOf = (f: Frame) => JSON.parse(f.data) as { id: string; created: number; model: string };
    const a = headOf(first.frames.find((f) => f.id)!);
    const b = headOf(rest.frames.find((f) => f.id)!);
    expect({ id: b.id, created: b.created, model: b.model }).toEqual({ id: a.id, created: a.created, model: a.model });
    // Resumed in time: the upstream call was not cancelled.
    await new Promise((r) => setTimeout(r, 1_800));
    expect(stack.mock.stats.aborted).toBe(0);
    expect(stack.mock.stats.completed).toBe(1);
  });

  it('a finished stream can be read again from the start and its result polled', async () => {
    const client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'openai/gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'hi\nmock:{"text":"hello there friend"}' }],
      })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('hello there friend'); // the SDK still parses frames carrying `id:` lines
    const requestId = response.headers.get('x-request-id')!;
    const again = await readSse(await fetch(`${otherUrl}/v1/requests/${requestId}/events`, { headers: auth() }));
    expect(contentOf(again.frames)).toBe('hello there friend');
    expect(again.frames.at(-1)!.data).toBe('[DONE]');
    const status = (await (await fetch(`${otherUrl}/v1/requests/${requestId}`, { headers: auth() })).json()) as {
      status: string;
      response: { status_code: number; body: { choices: Array<{ message: { content: string } }> } };
    };
    expect(status.status).toBe('completed');
    expect(status.response.body.choices[0]!.message.content).toBe('hello there friend');
  });

  it('a dropped stream nobody resumes is cancelled after the grace period, not before', async () => {
    stack.mock.reset();
    const ac = new AbortController();
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'x\nmock:{"tokens":500,"itl_ms":20}' }],
      }),
    });
    await readSse(res, (fs) => fs.length >= 3);
    ac.abort();
    const droppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(stack.mock.stats.aborted).toBe(0); // still inside the 1.5 s grace
    await waitFor(() => stack.mock.stats.aborted === 1, { timeoutMs: 3_000, what: 'upstream aborted after grace' });
    expect(Date.now() - droppedAt).toBeGreaterThanOrEqual(1_400);
  });
});

describe('async requests', () => {
  /** A chat request with `Prefer: respond-async`, as the tenant of `auth()`. */
  const postAsync = (content: string) =>
    fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async', ...auth() },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }),
    });

  it('Prefer: respond-async answers 202, then the result is polled and streamed', async () => {
    const res = await postAsync('later\nmock:{"ttft_ms":300,"text":"async answer"}');
    expect(res.status).toBe(202);
    expect(res.headers.get('preference-applied')).toBe('respond-async');
    const accepted = (await res.json()) as { id: string; status: string; object: string };
    expect(accepted).toMatchObject({ object: 'request', status: 'in_progress' });
    expect(res.headers.get('location')).toBe(`/v1/requests/${accepted.id}`);
    const first = (await (await fetch(`${otherUrl}/v1/requests/${accepted.id}`, { headers: auth() })).json()) as { status: string };
    expect(first.status).toBe('in_progress');
    const done = await waitFor(async () => {
      const r = (await (await fetch(`${otherUrl}/v1/requests/${accepted.id}`, { headers: auth() })).json()) as {
        status: string;
        response: { status_code: number; body: { object: string; choices: Array<{ message: { content: string } }> } };
      };
      return r.status === 'completed' ? r : undefined;
    });
    expect(done.response.status_code).toBe(200);
    expect(done.response.body.object).toBe('chat.completion');
    expect(done.response.body.choices[0]!.message.content).toBe('async answer');
    const events = await readSse(await fetch(`${stack.url}/v1/requests/${accepted.id}/events`, { headers: auth() }));
    expect(contentOf(events.frames)).toBe('async answer');
    expect(events.frames.at(-1)!.data).toBe('[DONE]');
    const row = await waitFor(() => stack.db.selectFrom('usage').selectAll().where('request_id', '=', accepted.id).executeTakeFirst());
    expect(row.status).toBe('ok');
  });

  it("streams an async request's answer when its events are read while it still runs", async () => {
    const res = await postAsync('later\nmock:{"ttft_ms":1500,"text":"late answer"}');
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { id: string };
    // No stored result yet: the read follows the request's events in LLM_EVENTS (`llm.evt.async.<id>`)
    // until its result arrives. On a wrong subject it would wait for REQUEST_TIMEOUT_MS.
    const events = await readSse(
      await fetch(`${otherUrl}/v1/requests/${accepted.id}/events`, { headers: auth(), signal: AbortSignal.timeout(10_000) }),
    );
    expect(contentOf(events.frames)).toBe('late answer');
    expect(events.frames.at(-1)!.data).toBe('[DONE]');
  });

  it('only the owning tenant can read a request', async () => {
    const res = await postAsync('mine');
    const { id } = (await res.json()) as { id: string };
    const streamed = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'mine too' }] }),
    });
    const streamId = streamed.headers.get('x-request-id')!;
    await streamed.text();
    const tenant = await createTenant(stack.db, { name: 'intruder' });
    const key = (await createKey(stack.db, tenant.id, {}))!.key;
    for (const rid of [id, streamId]) {
      for (const path of [`/v1/requests/${rid}`, `/v1/requests/${rid}/events`]) {
        const r = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
        expect(r.status).toBe(404);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
      }
    }
    expect((await fetch(`${stack.url}/v1/requests/${id}`, { headers: auth() })).status).toBe(200);
    expect((await fetch(`${stack.url}/v1/requests/nope`, { headers: auth() })).status).toBe(404);
    expect((await fetch(`${stack.url}/v1/requests/${id}`)).status).toBe(401);
    void other;
  });
});
