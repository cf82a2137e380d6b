// Logs an operator can read: one access line per request at info with request id, tenant, route,
// model, status, duration and tokens; a client's 4xx (Fastify's own 415 included) at info and without
// a stack; `service` once per line, also on the children `npm start` names; metric names without a
// repeated prefix.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { buildIngress, type Ingress } from '../../services/ingress/server.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';

let stack: Stack;
let ingress: Ingress;
let url: string;
const raw: string[] = [];

interface Line {
  level: number;
  msg: string;
  service?: string;
  reqId?: string;
  tenant?: string | null;
  route?: string;
  model?: string | null;
  status?: number;
  ms?: number;
  tokens_in?: number | null;
  tokens_out?: number | null;
  aborted?: boolean;
  err?: { stack?: string };
}
const lines = () => raw.map((l) => JSON.parse(l) as Line);
const linesOf = (reqId: string) => lines().filter((l) => l.reqId === reqId);

beforeAll(async () => {
  stack = await startStack({ ingress: false });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) raw.push(l);
      done();
    },
  });
  // As `npm start` builds it: a child named after its service on the process logger.
  const log = createLogger('switchyard', 'info', sink).child({ service: 'ingress' });
  ingress = await buildIngress({ config: stack.runtime.config, nats: stack.runtime.nats, db: stack.db, log });
  const port = await freePort();
  await ingress.app.listen({ port, host: '127.0.0.1' });
  url = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await ingress?.close();
  await stack?.close();
});

const post = (body: string, contentType = 'application/json') =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': contentType, authorization: `Bearer ${stack.apiKey}` },
    body,
  });

async function accessLineOf(res: Response): Promise<Line> {
  const reqId = res.headers.get('x-request-id')!;
  await waitFor(() => linesOf(reqId).some((l) => l.msg === 'request'), { what: `access line of ${reqId}` });
  const access = linesOf(reqId).filter((l) => l.msg === 'request');
  expect(access).toHaveLength(1);
  return access[0]!;
}

describe('access log', () => {
  it('one info line per request with tenant, route, model, status, duration and tokens', async () => {
    const res = await post(JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi\nmock:{"tokens":4}' }] }));
    expect(res.status).toBe(200);
    const usage = ((await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    const line = await accessLineOf(res);
    expect(line).toMatchObject({
      level: 30,
      service: 'ingress',
      route: '/v1/chat/completions',
      model: 'openai/gpt-4o-mini',
      status: 200,
      tokens_in: usage.prompt_tokens,
      tokens_out: usage.completion_tokens,
    });
    expect(line.tenant).toEqual(expect.any(String));
    expect(line.ms).toBeGreaterThanOrEqual(0);
  });

  it('a streamed request gets its line when the stream ends, with its tokens', async () => {
    const res = await post(
      JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 's\nmock:{"tokens":3}' }] }),
    );
    await res.text();
    const line = await accessLineOf(res);
    expect(line).toMatchObject({ level: 30, status: 200, route: '/v1/chat/completions', tokens_out: 3 });
  });

  it('a stream the client drops still gets its one line, marked aborted', async () => {
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'd\nmock:{"tokens":50,"itl_ms":20}' }],
      }),
    });
    await res.body!.getReader().read();
    ac.abort();
    const line = await accessLineOf(res);
    expect(line).toMatchObject({ level: 30, status: 200, route: '/v1/chat/completions', aborted: true });
  });

  it("a client's 415 and 400 are logged once, at info, without a stack", async () => {
    for (const res of [await post('hello', 'text/plain'), await post('{"model":')]) {
      expect([400, 415]).toContain(res.status);
      const reqId = res.headers.get('x-request-id')!;
      const line = await accessLineOf(res);
      expect(line).toMatchObject({ level: 30, status: res.status });
      await new Promise((r) => setTimeout(r, 50));
      expect(linesOf(reqId).filter((l) => l.level >= 40)).toEqual([]);
      expect(raw.filter((l) => l.includes(reqId)).some((l) => l.includes('"stack"'))).toBe(false);
    }
  });

  it('a hostile model name is cut in the access line, not logged whole', async () => {
    const res = await post(JSON.stringify({ model: `openai/${'x'.repeat(100_000)}`, messages: [{ role: 'user', content: 'hi' }] }));
    expect(res.status).toBe(400);
    const line = await accessLineOf(res);
    expect(line.model!.length).toBe(256);
  });

  it('names the service once per line', () => {
    expect(raw.length).toBeGreaterThan(3);
    for (const l of raw) expect(l.match(/"service":/g)).toHaveLength(1);
  });

  it('close() does not wait on a request whose answer is still pending: connections close after the drain', async () => {
    const other = await buildIngress({
      config: stack.runtime.config,
      nats: stack.runtime.nats,
      db: stack.db,
      log: createLogger('t', 'silent'),
    });
    const port = await freePort();
    await other.app.listen({ port, host: '127.0.0.1' });
    const pending = fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'slow\nmock:{"ttft_ms":30000}' }] }),
    }).catch((err: Error) => err);
    await waitFor(() => stack.mock.stats.active >= 1, { what: 'upstream call in flight' });
    const t0 = Date.now();
    await other.close();
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await pending).toBeInstanceOf(Error); // the connection was closed, not answered
  }, 30_000);

  it('metric names carry the switchyard_ prefix once', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('switchyard_process_cpu_user_seconds_total');
    expect(text).not.toContain('process_process');
    expect(text).not.toMatch(/switchyard_switchyard_/);
  });
});
