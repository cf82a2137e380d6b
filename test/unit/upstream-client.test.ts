// The worker's upstream HTTP client (services/worker/upstream.ts, undici's dispatch()) against real
// local servers: kept-alive connections for calls in a row, a Content-Length body (no chunked upload),
// an upstream silent before its headers or in the middle of its body ends with a 504-class timeout,
// and an abort ends the call at once.
import { getEventListeners } from 'node:events';
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

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; connections: () => number; server: http.Server }> {
  let connections = 0;
  const server = http.createServer(handler);
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`, connections: () => connections, server };
}

const call = (url: string, timeoutMs = 5_000, signal = new AbortController().signal) =>
  sendUpstream({ url, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ say: 'héllo' }) }, signal, timeoutMs);

describe('upstream client', () => {
  it('keeps connections alive for calls in a row and sends a Content-Length body', async () => {
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
    for (let i = 0; i < 6; i++) {
      const res = await call(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      expect(await res.body.text()).toBe('{"ok":true}');
    }
    // undici lets a connection rest one event-loop turn before reusing it (a server may close it
    // despite keep-alive), so a call made the moment the last one ended takes a second connection;
    // from then on the two are reused.
    expect(connections()).toBeLessThanOrEqual(2);
    expect(seen).toEqual(Array(6).fill({ length: String(Buffer.byteLength('{"say":"héllo"}')), chunked: false, body: '{"say":"héllo"}' }));
  });

  it("reuses a connection that stayed idle longer than undici's 4 s default when the upstream gives no keep-alive hint", async () => {
    const { url, connections, server } = await serve((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    server.keepAliveTimeout = 0; // no `Keep-Alive: timeout=` header, and the server keeps idle sockets open
    expect(await (await call(url)).body.text()).toBe('{}');
    await new Promise((r) => setTimeout(r, 4_500));
    const res = await call(url);
    expect(res.headers['keep-alive']).toBeUndefined();
    expect(await res.body.text()).toBe('{}');
    expect(connections()).toBe(1);
  }, 15_000);

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

  it('an abort in the middle of a body fails its read with an AbortError and closes the connection', async () => {
    let closed = 0;
    const { url } = await serve((req, res) => {
      req.socket.on('close', () => closed++);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"n":1}\n\n'); // and then silence
    });
    const ac = new AbortController();
    const res = await call(url, 60_000, ac.signal);
    const reads: string[] = [];
    const reading = res.body.forEachRead((b) => reads.push(b.toString())).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    const err = (await reading) as Error;
    expect(err.name).toBe('AbortError');
    expect(reads.join('')).toBe('data: {"n":1}\n\n');
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(1);
  });

  it("leaves no listener on the caller's signal once a call has ended, failed or been dropped", async () => {
    const { url } = await serve((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.endsWith('/fail')) return req.socket.destroy();
      res.end('{"ok":true}');
    });
    const signal = new AbortController().signal;
    await (await call(url, 5_000, signal)).body.text();
    await call(url.replace(/completions$/, 'fail'), 5_000, signal).catch(() => {});
    const dropped = await call(url, 5_000, signal);
    await dropped.body
      .forEachRead(() => {
        throw new Error('not this one');
      })
      .catch(() => {});
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('keeps what arrives before the body is read: a late reader gets it whole, past 64 KB too', async () => {
    const big = 'x'.repeat(300 * 1024);
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"big":"${big}"}`);
    });
    const res = await call(url);
    await new Promise((r) => setTimeout(r, 100)); // the whole body has arrived (or paused) by now
    expect(await res.body.text()).toBe(`{"big":"${big}"}`);
    const streamed = await call(url);
    await new Promise((r) => setTimeout(r, 100));
    let text = '';
    await streamed.body.forEachRead((b) => (text += b.toString()));
    expect(text).toBe(`{"big":"${big}"}`);
  });

  it('hands a streamed body over read by read, in order, and ends after the last byte', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const tick = setInterval(() => {
        res.write(`data: {"n":${n}}\n\n`);
        if (++n === 5) {
          clearInterval(tick);
          res.end('data: [DONE]\n\n');
        }
      }, 10);
    });
    const res = await call(url);
    const reads: string[] = [];
    await res.body.forEachRead((b) => reads.push(b.toString()));
    expect(reads.length).toBeGreaterThan(1);
    expect(reads.join('')).toBe([0, 1, 2, 3, 4].map((n) => `data: {"n":${n}}\n\n`).join('') + 'data: [DONE]\n\n');
  });

  it('hands over what arrived since the last read as one read (one relayed chunk per worker turn)', async () => {
    let writeFourth = () => {};
    let threeSent!: () => void;
    const sent = new Promise<void>((r) => (threeSent = r));
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      // Three socket writes the worker is not reading yet (it is busy): on loopback each is in the
      // worker's receive queue once its callback has run.
      res.write('data: 1\n\n', () => res.write('data: 2\n\n', () => res.write('data: 3\n\n', () => threeSent())));
      writeFourth = () => res.end('data: 4\n\n');
    });
    const res = await call(url);
    await sent;
    await new Promise((r) => setTimeout(r, 20)); // a poll phase or two: undici has parsed all three
    const reads: string[] = [];
    const reading = res.body.forEachRead((b) => {
      reads.push(b.toString());
      if (reads.length === 1) writeFourth();
    });
    await reading;
    expect(reads).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n', 'data: 4\n\n']);
  });

  it('an invalid header value rejects the call instead of throwing', async () => {
    const { url } = await serve((_req, res) => res.end('{}'));
    const signal = new AbortController().signal;
    const pending = sendUpstream({ url, headers: { 'x-bad': 'a\r\nb' }, body: '{}' }, signal, 5_000);
    await expect(pending).rejects.toThrow();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('an already aborted signal rejects before anything is sent', async () => {
    let requests = 0;
    const { url } = await serve((_req, res) => {
      requests++;
      res.end('{}');
    });
    const ac = new AbortController();
    ac.abort();
    const err = (await call(url, 5_000, ac.signal).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('AbortError');
    await new Promise((r) => setTimeout(r, 50));
    expect(requests).toBe(0);
  });
});
