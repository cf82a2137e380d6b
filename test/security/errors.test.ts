// Every error is an OpenAI error: `{"error":{message,type,param,code}}` with a 4xx that says what
// was wrong, never Fastify's own body, a 500 for the client's mistake, or a stack trace.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort } from '../harness/ports.ts';
import { buildIngress } from '../../services/ingress/server.ts';
import { z } from 'zod';
import { contentDisposition } from '../../services/ingress/files.ts';
import { requestIssueError } from '../../shared/protocol/request-errors.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ ledger: false });
}, 60_000);
afterAll(async () => stack?.close());

interface Envelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function expectEnvelope(status: number, text: string, expectedStatus: number): Envelope {
  expect(status, text).toBe(expectedStatus);
  const body = JSON.parse(text) as Envelope;
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toEqual({
    message: expect.any(String),
    type: expect.any(String),
    param: body.error.param === null ? null : expect.any(String),
    code: body.error.code === null ? null : expect.any(String),
  });
  expect(text).not.toMatch(/\n\s+at |node_modules|FST_/);
  return body;
}

const auth = () => ({ authorization: `Bearer ${stack.apiKey}` });

async function chat(body: Record<string, unknown>) {
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
  return expectEnvelope(res.status, await res.text(), 400).error;
}

/** Raw HTTP, for requests fetch refuses to send. */
function raw(request: string): Promise<{ status: number; headers: string; body: string }> {
  const { port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(request));
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1]), headers: head ?? '', body: rest.join('\r\n\r\n') });
    });
  });
}

describe('wrong types say what was expected and what was given', () => {
  it.each([
    ['temperature', 'hot', /expected a number, but got a string \("hot"\)/],
    ['model', 5, /expected a string, but got a number \(5\)/],
    ['max_tokens', '10', /expected a number, but got a string \("10"\)/],
    ['stream', 'yes', /expected a boolean, but got a string \("yes"\)/],
    ['messages', {}, /expected an array, but got an object/],
    ['stop', 5, /expected a string or an array, but got a number \(5\)/],
  ])('%s: %j', async (field, value, message) => {
    const e = await chat({ [field]: value });
    expect(e).toMatchObject({ param: field, code: 'invalid_type', type: 'invalid_request_error' });
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`'${field}'`);
    expect(e.message).not.toMatch(/missing/i);
  });

  it('a nested field is named, and a field really missing still says missing', async () => {
    const e = await chat({ messages: [{ role: 'user', content: 7 }] });
    expect(e).toMatchObject({ param: 'messages[0].content', code: 'invalid_type' });
    expect(e.message).toMatch(/but got a number \(7\)/);
    const missing = await chat({ messages: [{ role: 'tool', content: 'x' }] });
    expect(missing).toMatchObject({ param: 'messages[0].tool_call_id', code: 'missing_required_parameter' });
  });
});

describe('the zod issue -> 400 mapping (shared by chat, embeddings, batches, admin, WebSocket)', () => {
  const first = (schema: z.ZodType, body: unknown) => requestIssueError(schema.safeParse(body).error!.issues[0]!, body);
  it('a number that is no integer, or a string a coercing schema cannot read, is a wrong value, not a wrong type', () => {
    expect(first(z.object({ n: z.number().int() }), { n: 1.5 })).toMatchObject({
      code: 'invalid_value',
      message: "Invalid value for 'n': expected an integer, but got a number (1.5).",
    });
    expect(first(z.object({ n: z.coerce.number() }), { n: 'abc' })).toMatchObject({ code: 'invalid_value', param: 'n' });
  });
  it('unknown fields of strict objects and union branches that take the type but not the value', () => {
    expect(first(z.strictObject({ a: z.object({ b: z.number() }).strict() }), { a: { b: 1, c: 2 } })).toMatchObject({
      code: 'unknown_parameter',
      param: 'a.c',
    });
    const ts = z.object({ t: z.union([z.iso.datetime(), z.number()]) });
    expect(first(ts, { t: 'tomorrow' })).toMatchObject({ code: 'invalid_value', param: 't' });
    expect(first(ts, { t: true }).message).toBe("Invalid type for 't': expected a string or a number, but got a boolean (true).");
  });
});

describe('files', () => {
  it('a file uploaded as файл日本.jsonl downloads with an RFC 6266 Content-Disposition', async () => {
    const form = new FormData();
    const line = JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
    });
    form.append('purpose', 'batch');
    form.append('file', new Blob([line + '\n']), 'файл日本.jsonl');
    const up = await fetch(`${stack.url}/v1/files`, { method: 'POST', headers: auth(), body: form });
    expect(up.status, await up.clone().text()).toBe(200);
    const { id } = (await up.json()) as { id: string };
    const res = await fetch(`${stack.url}/v1/files/${id}/content`, { headers: auth() });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.text()).toBe(line + '\n');
    const cd = res.headers.get('content-disposition')!;
    expect(cd).toMatch(/^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''[A-Za-z0-9%!#$&+\-.^_`|~]+$/);
    expect(cd).not.toMatch(/filename="[^"]*"[^;]/);
    const star = /filename\*=UTF-8''(.+)$/.exec(cd)![1]!;
    expect(decodeURIComponent(star)).toBe('файл日本.jsonl');
  });

  it('Content-Disposition never lets quotes, backslashes or line breaks through', () => {
    const cd = contentDisposition('a"b\\c\r\nd\'(x)*.jsonl');
    expect(cd).toBe(`attachment; filename="a_b_c__d'(x)*.jsonl"; filename*=UTF-8''a%22b%5Cc%0D%0Ad%27%28x%29%2A.jsonl`);
  });

  it('multipart without a boundary, with a boundary too long, or cut short is a 400', async () => {
    const noBoundary = await fetch(`${stack.url}/v1/files`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'multipart/form-data' },
      body: 'x',
    });
    expectEnvelope(noBoundary.status, await noBoundary.text(), 400);
    const long = 'b'.repeat(300);
    const longBoundary = await fetch(`${stack.url}/v1/files`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': `multipart/form-data; boundary=${long}` },
      body: `--${long}\r\n`,
    });
    expectEnvelope(longBoundary.status, await longBoundary.text(), 400);
    const truncated = await fetch(`${stack.url}/v1/files`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'multipart/form-data; boundary=XyZ' },
      body: '--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{"custom_id":',
    });
    expectEnvelope(truncated.status, await truncated.text(), 400);
    // Still serving.
    expect((await fetch(`${stack.url}/v1/files`, { headers: auth() })).status).toBe(200);
  });
});

describe("Fastify's own errors use the envelope", () => {
  it('unknown route, unsupported media type, bad JSON, too large', async () => {
    const notFound = await fetch(`${stack.url}/v1/nope`, { method: 'DELETE' });
    expect(expectEnvelope(notFound.status, await notFound.text(), 404).error.code).toBe('unknown_url');
    const media = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/xml' },
      body: '<hi/>',
    });
    expectEnvelope(media.status, await media.text(), 415);
    const badJson = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(expectEnvelope(badJson.status, await badJson.text(), 400).error.code).toBe('invalid_json');
    const big = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: '"' + 'x'.repeat(33 * 1024 * 1024) + '"',
    });
    expectEnvelope(big.status, await big.text(), 413);
  });

  it('a NUL character that would reach Postgres (ids, list cursors) is a 400, not a 500', async () => {
    for (const path of ['/v1/files/file-%00', '/v1/batches/batch_%00', '/v1/requests/req_%00', '/v1/files?after=%00']) {
      const r = await fetch(`${stack.url}${path}`, { headers: auth() });
      expect(expectEnvelope(r.status, await r.text(), 400).error.message, path).toMatch(/NUL/);
    }
  });

  it('a URL that does not decode is a 400 envelope', async () => {
    const r = await fetch(`${stack.url}/v1/files/%E0%A4%A`, { headers: auth() });
    expectEnvelope(r.status, await r.text(), 400);
  });

  it('malformed HTTP (bad content-length, bad header) gets an envelope too', async () => {
    const badLength = await raw(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}',
    );
    expectEnvelope(badLength.status, badLength.body, 400);
    const badHeader = await raw('GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n');
    expectEnvelope(badHeader.status, badHeader.body, 400);
    const mismatch = await raw(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expectEnvelope(mismatch.status, mismatch.body, 400);
    // The server keeps serving.
    expect((await fetch(`${stack.url}/v1/models`, { headers: auth() })).status).toBe(200);
  });
});

describe('shutting down', () => {
  it('a request that arrives while the ingress closes gets a 503 envelope', async () => {
    const ingress = await buildIngress({ config: stack.runtime.config, nats: stack.runtime.nats, db: stack.db, log: stack.runtime.log });
    const port = await freePort();
    await ingress.app.listen({ port, host: '127.0.0.1' });
    const request = (content: string) => {
      const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
      return `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    // A slow request keeps the connection busy while close() starts; the next one on the same
    // connection then arrives at a closing server.
    let data = '';
    const socket = connect(port, '127.0.0.1');
    socket.on('data', (d) => (data += d));
    const ended = new Promise((r) => socket.on('close', r));
    socket.write(request('slow\nmock:{"ttft_ms":1500}'));
    await new Promise((r) => setTimeout(r, 500));
    const closed = ingress.close();
    await new Promise((r) => setTimeout(r, 100));
    socket.write(request('late'));
    await ended;
    await closed;
    const responses = data.split(/(?=HTTP\/1\.1 )/);
    expect(
      responses.map((r) => r.slice(0, 12)),
      data,
    ).toEqual(['HTTP/1.1 200', 'HTTP/1.1 503']);
    const late = responses[1]!;
    expect(JSON.parse(late.slice(late.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { message: expect.stringMatching(/shutting down/), type: 'server_error', param: null, code: 'service_unavailable' },
    });
  }, 30_000);
});
