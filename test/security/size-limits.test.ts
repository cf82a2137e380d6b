// Size limits that agree end to end, against real nats-server and Postgres: the ingress refuses what
// NATS could not carry (413, never a retryable 503), a batch line that could never be queued is refused
// at upload naming its line, a huge line neither stalls the server nor ends as a 500, and an upstream
// that sends too much ends in a clean upstream error while the worker reads only about the cap.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { HEADER_ROOM_BYTES, maxRequestBodyBytes } from '../../shared/nats/payload-limits.ts';
import { publishRequest } from '../../services/ingress/dispatcher.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import { ChunkSink, newFileId } from '../../shared/db/files.ts';
import { waitFor } from '../harness/ports.ts';
import { SwitchyardWsClient, WsRequestError } from '../../shared/client/ws-client.ts';

const MiB = 1024 * 1024;
const UPSTREAM_CAP = 2 * MiB;
const EVENT_CAP = 256 * 1024;

interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

let stack: Stack;
let hostile: HostileUpstream;

beforeAll(async () => {
  hostile = await startHostileUpstream();
  stack = await startStack({
    batch: true,
    env: {
      // groq/* goes to an upstream that answers with far too much; openai/* to the normal mock.
      GROQ_BASE_URL: hostile.url,
      GROQ_API_KEY: 'gsk-test',
      UPSTREAM_MAX_BODY_BYTES: String(UPSTREAM_CAP),
      UPSTREAM_MAX_EVENT_BYTES: String(EVENT_CAP),
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await hostile?.close();
});

function chatBody(contentBytes: number, model = 'openai/gpt-4o-mini', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'x'.repeat(contentBytes) }], ...extra });
}

async function postChat(body: string) {
  const started = performance.now();
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - started };
}

async function uploadBatchFile(content: Blob) {
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', content, 'input.jsonl');
  const started = performance.now();
  const res = await fetch(`${stack.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: form });
  return { status: res.status, json: (await res.json()) as ErrorEnvelope, ms: performance.now() - started };
}

const batchLine = (customId: string, contentBytes: number) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'y'.repeat(contentBytes) }] },
  });

describe('request bodies and the NATS max_payload', () => {
  it('the harness nats-server carries 8 MiB messages, and the ingress limit is derived from it', () => {
    expect(stack.runtime.nats.nc.info?.max_payload).toBe(8 * MiB);
    expect(maxRequestBodyBytes(stack.runtime.nats.nc)).toBe(8 * MiB - HEADER_ROOM_BYTES);
  });

  it('a 2 MB chat body is served, not a retryable 503', async () => {
    const r = await postChat(chatBody(2 * MiB));
    expect(r.status, r.text).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ object: 'chat.completion' });
  });

  it('a 20 MB chat body is a quick 413 in the OpenAI envelope', async () => {
    const r = await postChat(chatBody(20 * MiB));
    expect(r.status, r.text).toBe(413);
    const body = JSON.parse(r.text) as ErrorEnvelope;
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large', param: null });
    expect(body.error.message).toContain(String(8 * MiB - HEADER_ROOM_BYTES));
    expect(r.ms).toBeLessThan(5_000);
  });

  it('the limit is exact: one byte over max_payload minus header room is 413, at the limit is queued', async () => {
    const limit = maxRequestBodyBytes(stack.runtime.nats.nc);
    const skeleton = chatBody(0).length;
    const over = await postChat(chatBody(limit - skeleton + 1));
    expect(over.status, over.text.slice(0, 300)).toBe(413);
    const at = await postChat(chatBody(limit - skeleton));
    expect(at.status, at.text.slice(0, 300)).toBe(200);
  });

  it('a WebSocket request over the limit gets a 413 error frame, and the socket keeps working', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    try {
      const limit = maxRequestBodyBytes(stack.runtime.nats.nc);
      const big = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(limit) }] };
      await expect(ws.chat(big).result).rejects.toSatisfy(
        (e: unknown) => e instanceof WsRequestError && e.frame.status === 413 && e.frame.error.code === 'request_too_large',
      );
      await expect(ws.chat({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).result).resolves.toBeTruthy();
    } finally {
      ws.close();
    }
  });

  it('every other surface (WebSocket, async, batch) gets 413 from publishRequest, not 503', async () => {
    const limit = maxRequestBodyBytes(stack.runtime.nats.nc);
    const publish = publishRequest(stack.runtime.nats, 'ing-test', {
      requestId: 'req_too_large_publish',
      principal: { tenantId: 't', keyId: 'k' },
      kind: 'chat',
      route: { provider: 'openai', model: 'gpt-4o-mini' },
      publicModel: 'openai/gpt-4o-mini',
      stream: false,
      body: Buffer.alloc(limit + 1, 0x20),
    });
    const err = await publish.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(413);
    expect((err as ApiError).code).toBe('request_too_large');
  });
});

describe('batch input lines', () => {
  it('a line longer than what can be queued is refused at upload, naming its line number', async () => {
    const lines = [batchLine('a', 10), batchLine('b', 10), batchLine('c', 9 * MiB), batchLine('d', 10)];
    const r = await uploadBatchFile(new Blob([lines.join('\n') + '\n']));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', param: 'file', code: 'line_too_long' });
    expect(r.json.error.message).toMatch(/line 3\b/);
  });

  it('a line that fits is accepted (2 MB)', async () => {
    const r = await uploadBatchFile(new Blob([batchLine('a', 2 * MiB) + '\n']));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  });

  it('a 30 MB single line is a 400 within seconds, and the server keeps serving meanwhile', async () => {
    const upload = uploadBatchFile(new Blob([batchLine('huge', 30 * MiB)]));
    await new Promise((r) => setTimeout(r, 20));
    const other = await postChat(chatBody(10));
    const r = await upload;
    expect(other.status).toBe(200);
    expect(other.ms).toBeLessThan(2_000);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'line_too_long' });
    expect(r.json.error.message).toMatch(/line 1\b/);
    expect(r.ms).toBeLessThan(5_000);
  });

  it('a stored line too large for the NATS server fails alone at run time (413 in the error file); the batch completes', async () => {
    // A file uploaded while the server allowed larger messages: written straight to the file store.
    const probe = (await uploadBatchFile(new Blob([batchLine('probe', 10) + '\n']))).json as unknown as { id: string };
    const { tenant_id } = await stack.db.selectFrom('files').select('tenant_id').where('id', '=', probe.id).executeTakeFirstOrThrow();
    const fileId = newFileId();
    const sink = new ChunkSink(stack.db, fileId);
    await sink.write(`${batchLine('ok', 10)}\n${batchLine('huge', 9 * MiB)}\n`);
    await sink.finish();
    await stack.db
      .insertInto('files')
      .values({
        id: fileId,
        tenant_id,
        purpose: 'batch',
        filename: 'old.jsonl',
        bytes: String(sink.bytes),
        line_count: 2,
        meta: JSON.stringify({ endpoints: ['/v1/chat/completions'] }),
      })
      .execute();
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.url}${path}`, {
        ...init,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
      });
    const created = (await (
      await api('/v1/batches', {
        method: 'POST',
        body: JSON.stringify({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' }),
      })
    ).json()) as { id: string };
    const done = await waitFor(
      async () => {
        const b = (await (await api(`/v1/batches/${created.id}`)).json()) as {
          status: string;
          request_counts: { completed: number; failed: number };
          error_file_id: string | null;
        };
        return ['completed', 'failed', 'expired', 'cancelled'].includes(b.status) ? b : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'batch to finish' },
    );
    expect(done.status).toBe('completed');
    expect(done.request_counts).toMatchObject({ completed: 1, failed: 1 });
    const errorLines = (await (await api(`/v1/files/${done.error_file_id}/content`)).text()).trim().split('\n');
    expect(errorLines).toHaveLength(1);
    const line = JSON.parse(errorLines[0]!) as { custom_id: string; response: { status_code: number; body: ErrorEnvelope } };
    expect(line.custom_id).toBe('huge');
    expect(line.response.status_code).toBe(413);
    expect(line.response.body.error.code).toBe('request_too_large');
  });

  it('a 40 MB single line is a 400, not a 500', async () => {
    const r = await uploadBatchFile(new Blob([batchLine('huge', 40 * MiB) + '\n' + batchLine('after', 10) + '\n']));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'line_too_long' });
    expect(r.json.error.message).toMatch(/line 1\b/);
  });
});

describe('upstream response sizes', () => {
  it('a non-streaming upstream body over UPSTREAM_MAX_BODY_BYTES is a clean 502, read only up to about the cap', async () => {
    const r = await postChat(chatBody(10, 'groq/huge-body'));
    expect(r.status, r.text).toBe(502);
    expect((JSON.parse(r.text) as ErrorEnvelope).error).toMatchObject({ type: 'upstream_error', code: 'upstream_response_too_large' });
    // The worker dropped the connection near the cap instead of reading the 64 MB the upstream offered.
    const sent = await hostile.lastSentBytes();
    expect(sent).toBeLessThan(UPSTREAM_CAP + 16 * MiB);
  });

  it('a streamed SSE event over UPSTREAM_MAX_EVENT_BYTES ends in a clean error, read only up to about the cap', async () => {
    const r = await postChat(chatBody(10, 'groq/huge-event', { stream: true }));
    // Nothing was relayed before the event grew too big, so the client gets a plain HTTP error.
    expect(r.status, r.text.slice(0, 300)).toBe(502);
    expect((JSON.parse(r.text) as ErrorEnvelope).error).toMatchObject({ code: 'upstream_response_too_large' });
    const sent = await hostile.lastSentBytes();
    expect(sent).toBeLessThan(EVENT_CAP + 16 * MiB);
  });

  it('an over-long SSE event after tokens were relayed ends the stream with the error event', async () => {
    const r = await postChat(chatBody(10, 'groq/tokens-then-huge', { stream: true }));
    expect(r.status).toBe(200);
    expect(r.text).toContain('"content":"hello"');
    expect(r.text).toContain('"code":"upstream_response_too_large"');
    const sent = await hostile.lastSentBytes();
    expect(sent).toBeLessThan(EVENT_CAP + 16 * MiB);
  });

  it('a long stream of small SSE events is not capped', async () => {
    const r = await postChat(chatBody(10, 'groq/many-events', { stream: true }));
    expect(r.status).toBe(200);
    expect(r.text).toContain('data: [DONE]');
    // More bytes in total than the per-event cap: the cap is per event, not per stream.
    expect(r.text.length).toBeGreaterThan(EVENT_CAP);
  });
});

interface HostileUpstream {
  url: string;
  /** Bytes the last response had written when its connection closed. */
  lastSentBytes(): Promise<number>;
  close(): Promise<void>;
}

/** An OpenAI-compatible upstream that answers with 64 MB: one JSON body, one endless SSE event, or many small events. */
async function startHostileUpstream(): Promise<HostileUpstream> {
  const TOTAL = 64 * MiB;
  const filler = Buffer.alloc(64 * 1024, 'a');
  let last: Promise<number> = Promise.resolve(0);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // The model catalog's GET /models finds no list here, and falls back to the configured models.
    if (req.method !== 'POST') return void res.writeHead(404).end();
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { model: string };
      let sent = 0;
      last = new Promise((resolve) => res.once('close', () => resolve(sent)));
      const write = (b: Buffer | string) => {
        sent += Buffer.byteLength(b);
        return res.write(b);
      };
      if (body.model === 'many-events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const event = (content: string) =>
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'many-events', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
        for (let i = 0; i < 40; i++) write(event('z'.repeat(10_000)));
        write(
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'many-events', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
        );
        res.end('data: [DONE]\n\n');
        return;
      }
      const streaming = body.model === 'huge-event' || body.model === 'tokens-then-huge';
      if (body.model === 'tokens-then-huge') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        write(
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: body.model, choices: [{ index: 0, delta: { role: 'assistant', content: 'hello' }, finish_reason: null }] })}\n\n`,
        );
      } else res.writeHead(200, { 'content-type': streaming ? 'text/event-stream' : 'application/json' });
      write(
        streaming
          ? 'data: {"choices":[{"index":0,"delta":{"content":"'
          : '{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"',
      );
      const pump = () => {
        while (sent < TOTAL && !res.destroyed) {
          if (!write(filler)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end(streaming ? '"}}]}\n\n' : '"}}]}');
      };
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    lastSentBytes: () => last,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
