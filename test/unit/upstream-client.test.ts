// The worker's upstream HTTP client (services/worker/upstream.ts, node:http) against real local
// servers: one kept-alive connection for calls in a row, a Content-Length body (no chunked upload),
// an upstream silent before its headers or in the middle of its body ends with a 504-class timeout,
// and an abort ends the call at once.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendUpstream, UpstreamTimeoutError } from '../../services/worker/upstream.ts';
import { classifyFailure } from '../../services/worker/failures.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = http.createServer(handler);
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`, connections: () => connections };
}

const call = (url: string, timeoutMs = 5_000, signal = new AbortController().signal) =>
  sendUpstream({ url, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ say: 'héllo' }) }, signal, timeoutMs);

describe('upstream client', () => {
  it('keeps one connection alive for calls in a row and sends a Content-Length body', async () => {
    const seen: Array<{ length: string | undefined; chunked: boolean; body: string }> = [];
    const { url, connections } = await serve((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ length: req.headers['content-length'], chunked: req.headers['transfer-encoding'] === 'chunked', body });
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });
    for (let i = 0; i < 3; i++) {
      const res = await call(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      expect(await res.body.text()).toBe('{"ok":true}');
    }
    expect(connections()).toBe(1);
    expect(seen).toEqual(Array(3).fill({ length: String(Buffer.byteLength('{"say":"héllo"}')), chunked: false, body: '{"say":"héllo"}' }));
  });

  it('an upstream silent before its headers: a retryable 504 upstream_timeout', async () => {
    const { url } = await serve(() => {}); // never answers
    const started = Date.now();
    const err = await call(url, 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect((err as UpstreamTimeoutError).code).toBe('UPSTREAM_HEADERS_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(classifyFailure(err, false)).toMatchObject({ status: 504, retryable: true, error: { code: 'upstream_timeout' } });
  });

  it('an upstream silent in the middle of its body: the read fails with a body timeout', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":'); // and nothing more
    });
    const res = await call(url, 300);
    const err = await res.body.text().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect((err as UpstreamTimeoutError).code).toBe('UPSTREAM_BODY_TIMEOUT');
  });

  it('an abort ends a waiting call at once', async () => {
    const { url } = await serve(() => {});
    const ac = new AbortController();
    const pending = call(url, 60_000, ac.signal).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const err = (await pending) as Error;
    expect(err.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('an upstream that is not listening: a retryable connection error', async () => {
    const { url } = await serve(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    const err = await call(url).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ECONNREFUSED');
    expect(classifyFailure(err, false)).toMatchObject({ status: 502, retryable: true, error: { code: 'upstream_connection_error' } });
  });
});
