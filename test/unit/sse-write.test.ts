// writeSse() frames SSE frames as HTTP chunks itself once Node has sent a response's head
// (services/ingress/sse-backpressure.ts, "ssewrite" in docs/benchmarks.md). What a client reads must
// stay exactly what res.write() would have sent: against a real node:http server and raw sockets.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { writeSse } from '../../services/ingress/sse-backpressure.ts';

const limits = { maxBufferedBytes: 1024 * 1024, stuckTimeoutMs: 10_000 };
const tick = () => new Promise<void>((r) => setImmediate(r));
let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<number> {
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Sends `request` on a raw socket and returns every byte the server sent until it closed. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const parts: Buffer[] = [];
    socket.on('data', (b) => parts.push(typeof b === 'string' ? Buffer.from(b) : b));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}

/** The body of a chunked HTTP/1.1 response, checking every chunk's size line against its bytes. */
function dechunk(raw: string): { body: string; rest: string } {
  let buf = Buffer.from(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  const out: Buffer[] = [];
  for (;;) {
    const eol = buf.indexOf('\r\n');
    const size = parseInt(buf.subarray(0, eol).toString('latin1'), 16);
    expect(Number.isNaN(size)).toBe(false);
    if (size === 0) return { body: Buffer.concat(out).toString('utf8'), rest: buf.subarray(eol + 4).toString('utf8') };
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    expect(buf.subarray(eol + 2 + size, eol + 4 + size).toString('latin1')).toBe('\r\n');
    buf = buf.subarray(eol + 4 + size);
  }
}

// Multi-byte text, and a lone surrogate (written as the 3-byte replacement character): a chunk's size
// line must count the bytes the socket writes, not the string's length.
const asWritten = (frames: string[]) => Buffer.from(frames.join('')).toString('utf8');
const FRAMES = ['data: {"a":1}\n\n', 'id: 2\ndata: {"text":"héllo wörld 🌍 \ud800"}\n\n', 'data: [DONE]\n\n'];

describe('writeSse', () => {
  it('sends frames whole and in order after the head, framed by hand after the first; an empty frame does not end the body', async () => {
    const nodeWrites: string[] = [];
    const port = await serve(async (_req, res) => {
      const write = res.write.bind(res) as (chunk: string) => boolean;
      res.write = ((chunk: string) => (nodeWrites.push(chunk), write(chunk))) as typeof res.write;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      expect(writeSse(res, FRAMES[0]!, limits)).toBe(true);
      await tick();
      expect(writeSse(res, '', limits)).toBe(true);
      expect(writeSse(res, FRAMES[1]!, limits)).toBe(true);
      await tick();
      res.end(FRAMES[2]);
    });
    const raw = await rawExchange(port, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(raw.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(raw).toContain('Transfer-Encoding: chunked');
    expect(dechunk(raw)).toEqual({ body: asWritten(FRAMES), rest: '' });
    // Node wrote the first frame (with the head) and the empty one; the multi-byte frame went by hand.
    expect(nodeWrites).toEqual([FRAMES[0], '']);
  });

  it('an HTTP/1.0 client (no chunked encoding) gets the frames as they are', async () => {
    const port = await serve(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      writeSse(res, FRAMES[0]!, limits);
      await tick();
      writeSse(res, FRAMES[1]!, limits);
      res.end(FRAMES[2]);
    });
    const raw = await rawExchange(port, 'GET / HTTP/1.0\r\nhost: x\r\n\r\n');
    expect(raw).not.toContain('chunked');
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe(asWritten(FRAMES));
  });

  it('pipelined streams on one connection each arrive whole, the second after the first, and the socket keeps no listener of either', async () => {
    const drainListeners: number[] = [];
    let before = 0;
    const port = await serve(async (req, res) => {
      const socket = req.socket;
      if (req.url === '/one') before = socket.listenerCount('drain');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The second response has no socket of its own until the first ends: Node buffers it.
      for (const frame of FRAMES.slice(0, 2)) {
        writeSse(res, `${req.url} ${frame}`, limits);
        await new Promise((r) => setTimeout(r, 20));
      }
      res.end(`${req.url} ${FRAMES[2]}`);
      res.once('close', () => drainListeners.push(socket.listenerCount('drain') - before));
    });
    const raw = await rawExchange(port, 'GET /one HTTP/1.1\r\nhost: x\r\n\r\nGET /two HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    const first = dechunk(raw);
    expect(first.body).toBe(asWritten(FRAMES.map((f) => `/one ${f}`)));
    expect(dechunk(first.rest).body).toBe(asWritten(FRAMES.map((f) => `/two ${f}`)));
    // Node's own listeners come and go with each response; ours must not stay behind either one.
    expect(drainListeners).toEqual([0, 0]);
  });
});
