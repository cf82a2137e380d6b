// Bounded memory per slow SSE client (hostile-input hardening, part 8), against real NATS and
// Postgres: a raw TCP client asks for a long streamed answer and never reads it. The ingress must
// keep at most SSE_MAX_BUFFERED_BYTES unsent for it, end the stream, and the request is then
// cancelled (after the resume grace) instead of running to its end for nobody.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';

const MAX_BUFFERED = 1024 * 1024;
const STUCK_MS = 1_000;
let stack: Stack;

beforeAll(async () => {
  // 20 MB of answer in 16 KB words, 5 ms apart: far more than the kernel's socket buffers hold.
  stack = await startStack({
    mockDefaults: { text: `${'x'.repeat(16 * 1024)} `.repeat(1280), itl_ms: 5 },
    env: { SSE_MAX_BUFFERED_BYTES: String(MAX_BUFFERED), SSE_STUCK_TIMEOUT_MS: String(STUCK_MS), STREAM_RESUME_GRACE_MS: '200' },
  });
});
afterAll(async () => stack?.close());

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** A raw TCP client that asks for a streamed answer and never reads a byte of it. */
async function neverReadingStream(content: string): Promise<Socket> {
  const body = JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content }] });
  const url = new URL(stack.url);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.pause(); // what the server sends piles up in the kernel, then in the ingress
  socket.write(
    `POST /v1/chat/completions HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${stack.apiKey}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return socket;
}

describe('slow SSE clients', () => {
  it('a client that never reads a long stream costs at most SSE_MAX_BUFFERED_BYTES, is ended, and its request cancelled', async () => {
    stack.mock.reset();
    const socket = await neverReadingStream('flood');
    let maxBuffered = 0;
    await waitFor(
      async () => {
        maxBuffered = Math.max(maxBuffered, await metric('switchyard_sse_buffered_bytes'));
        return (await metric('switchyard_sse_slow_clients_total{reason="buffer_full"}')) >= 1 || undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the stream to be ended for a client that does not read' },
    );
    expect(maxBuffered).toBeLessThanOrEqual(MAX_BUFFERED + 256 * 1024);
    expect(await metric('switchyard_sse_buffered_bytes')).toBe(0);

    // The resume grace passes without a resume: the upstream call is cancelled, not run for nobody.
    const row = await waitFor(() => stack.db.selectFrom('usage').selectAll().where('status', '=', 'cancelled').executeTakeFirst());
    expect(Number(row.output_tokens)).toBeLessThan(1280);
    expect(stack.mock.stats.completed).toBe(0);
    socket.destroy();
  });

  it('a client that reads nothing while the answer trickles in is ended after SSE_STUCK_TIMEOUT_MS', async () => {
    stack.mock.reset();
    await stack.db.deleteFrom('usage').execute();
    // ~400 KB/s: the kernel's buffers fill, then less than the byte cap piles up within the stuck timeout.
    const socket = await neverReadingStream('trickle\nmock:{"itl_ms":40}');
    await waitFor(async () => (await metric('switchyard_sse_slow_clients_total{reason="stuck"}')) >= 1 || undefined, {
      timeoutMs: 40_000,
      intervalMs: 200,
      what: 'the stuck stream to be ended',
    });
    expect(await metric('switchyard_sse_slow_clients_total{reason="buffer_full"}')).toBe(1); // only the first test's
    const row = await waitFor(() => stack.db.selectFrom('usage').selectAll().where('status', '=', 'cancelled').executeTakeFirst());
    expect(Number(row.output_tokens)).toBeLessThan(1280);
    expect(stack.mock.stats.completed).toBe(0);
    socket.destroy();
  });
});
