// GET /v1/ws against real NATS + Postgres, through the typed client in shared/client/ws-client.ts:
// 100 concurrent requests on one socket, cancel stops the upstream call, resume after a seq, auth at
// the upgrade (header and subprotocols), ping/pong, malformed messages, slow-consumer drop.
import { rawUpgrade } from '../harness/ws-upgrade.ts';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { SwitchyardWsClient, WsRequestError } from '../../shared/client/ws-client.ts';
import { WS_CLOSE } from '../../shared/protocol/websocket.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    env: { STREAM_RESUME_GRACE_MS: '300', WS_HIGH_WATER_BYTES: String(32 * 1024), WS_MAX_BUFFERED_BYTES: String(256 * 1024) },
  });
});
afterAll(async () => stack?.close());

const chat = (content: string) => ({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] });

/** A raw upgrade request; resolves with the HTTP status (101 on success), the socket and the answered protocol. */
async function upgrade(headers: Record<string, string>): Promise<{ status: number; socket: Socket | null; protocol?: string }> {
  const res = await rawUpgrade(stack.url, headers, { keepSocket: true });
  return { status: res.status, socket: res.socket, protocol: res.headers['sec-websocket-protocol'] as string | undefined };
}

/** One masked client text frame (RFC 6455 5.2), for the raw-socket test. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

describe('WebSocket API', () => {
  it('carries 100 concurrent requests on one socket, each answered correctly and in sequence', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    expect(ws.protocol).toBe('switchyard.v1');
    const handles = Array.from({ length: 100 }, (_, i) =>
      ws.chat(chat(`q${i}\nmock:{"text":"answer number ${i} done","itl_ms":5}`), { id: `r${i}` }),
    );
    const results = await Promise.all(handles.map((h) => h.result));
    const requestIds = new Set<string>();
    results.forEach((r, i) => {
      expect(r.id).toBe(`r${i}`);
      expect(r.content).toBe(`answer number ${i} done`);
      expect(r.chunks.map((c) => c.seq)).toEqual(r.chunks.map((_, k) => k + 1));
      expect(r.done.seq).toBe(r.chunks.length + 1);
      expect(r.done.usage.completion_tokens).toBeGreaterThan(0);
      expect(r.done.finish_reason).toBe('stop');
      requestIds.add(r.requestId);
    });
    expect(requestIds.size).toBe(100);
    const rows = await waitFor(async () => {
      const n = await stack.db
        .selectFrom('usage')
        .select('request_id')
        .where('request_id', 'in', [...requestIds])
        .execute();
      return n.length === 100 ? n : undefined;
    });
    expect(rows).toHaveLength(100);
    expect(await ws.ping()).toBeGreaterThanOrEqual(0);
    ws.close();
  });

  it('cancel stops the upstream call', async () => {
    stack.mock.reset();
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey, { keyProtocol: 'openai-insecure-api-key.' });
    let chunks = 0;
    const h = ws.chat(chat('long\nmock:{"tokens":1000,"itl_ms":20}'), { onChunk: () => chunks++ });
    const requestId = await h.requestId;
    await waitFor(() => chunks >= 3, { what: 'a few chunks' });
    h.cancel();
    await expect(h.result).rejects.toSatisfy((e: unknown) => e instanceof WsRequestError && e.frame.error.code === 'cancelled');
    await waitFor(() => stack.mock.stats.aborted === 1, { timeoutMs: 3_000, what: 'upstream aborted' });
    expect(stack.mock.stats.completed).toBe(0);
    const row = await waitFor(() => stack.db.selectFrom('usage').selectAll().where('request_id', '=', requestId).executeTakeFirst());
    expect(row.status).toBe('cancelled');
    ws.close();
  });

  it('resumes a request on a new socket after a sequence number, with no gap and no duplicate', async () => {
    stack.mock.reset();
    const a = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    const seen: string[] = [];
    let lastSeq = 0;
    const h = a.chat(chat('long\nmock:{"tokens":40,"itl_ms":15}'), {
      onChunk: (c) => {
        seen.push(c.delta.content ?? '');
        lastSeq = c.seq;
      },
    });
    const requestId = await h.requestId;
    await waitFor(() => lastSeq >= 5, { what: 'five chunks' });
    a.close();
    const keptSeq = lastSeq;
    const b = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    const rest = await b.resume(requestId, keptSeq).result;
    expect(rest.chunks[0]!.seq).toBe(keptSeq + 1);
    const full = seen.slice(0, keptSeq).join('') + rest.content;
    expect(full).toBe(Array.from({ length: 40 }, (_, i) => (i ? ` tok${i}` : 'tok0')).join(''));
    expect(stack.mock.stats.aborted).toBe(0);
    b.close();
  });

  it('authenticates at the upgrade: header or subprotocol, else 401', async () => {
    expect((await upgrade({})).status).toBe(401);
    expect((await upgrade({ authorization: 'Bearer sk-wrong' })).status).toBe(401);
    const ok = await upgrade({ authorization: `Bearer ${stack.apiKey}` });
    expect(ok.status).toBe(101);
    ok.socket!.destroy();
    const viaProtocol = await upgrade({ 'sec-websocket-protocol': `switchyard.v1, bearer.${stack.apiKey}` });
    expect(viaProtocol.status).toBe(101);
    expect(viaProtocol.protocol).toBe('switchyard.v1');
    viaProtocol.socket!.destroy();
    await expect(SwitchyardWsClient.connect(stack.url, 'sk-nope')).rejects.toThrow(/failed/);
  });

  it('answers malformed messages with an error frame and keeps the socket', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    ws.send({ type: 'explode' });
    await waitFor(() => ws.socketErrors.length === 1, { what: 'error frame' });
    expect(ws.socketErrors[0]!.error.code).toBe('invalid_message');
    await expect(ws.chat({ model: 'openai/gpt-4o-mini' }).result).rejects.toSatisfy(
      (e: unknown) => e instanceof WsRequestError && e.frame.status === 400,
    );
    const dup = ws.chat(chat('x\nmock:{"ttft_ms":300}'), { id: 'same' });
    expect(() => ws.chat(chat('y'), { id: 'same' })).toThrow(/already in use/);
    // The server refuses a second create with a running id as a socket-level error; the first goes on.
    ws.send({ type: 'create', id: 'same', body: chat('y') });
    await waitFor(() => ws.socketErrors.length === 2, { what: 'duplicate_id frame' });
    expect(ws.socketErrors[1]!.error.code).toBe('duplicate_id');
    expect((await dup.result).content).toContain('tok0');
    ws.close();
  });

  it('drops a socket that does not read, and its request is cancelled after the grace', async () => {
    stack.mock.reset();
    const { status, socket } = await upgrade({ authorization: `Bearer ${stack.apiKey}` });
    expect(status).toBe(101);
    // Never read: the kernel buffers fill, then the server's buffer passes WS_MAX_BUFFERED_BYTES. An
    // answer of 48 MB, more than loopback's socket buffers can hold however the frames are cut, paced
    // (4 MB/s) so the upstream is still sending when the grace ends.
    socket!.pause();
    const flood = chat('x\nmock:{"tokens":6000,"word_chars":8192,"itl_ms":2}');
    socket!.write(clientFrame(JSON.stringify({ type: 'create', id: 'flood', body: flood })));
    await waitFor(() => stack.mock.stats.aborted === 1, { timeoutMs: 30_000, what: 'upstream aborted after the socket was dropped' });
    expect(stack.mock.stats.completed).toBe(0);
    socket!.destroy();
    void WS_CLOSE;
  }, 40_000);

  it('logs a dropped slow socket once, not once for every chunk that arrives before its close', async () => {
    stack.mock.reset();
    const { socket } = await upgrade({ authorization: `Bearer ${stack.apiKey}` });
    socket!.pause();
    const warn = vi.spyOn(stack.runtime.log, 'warn');
    try {
      // An unpaced 32 MB answer: many chunks reach the ingress in the turn the socket is dropped in.
      const burst = chat('x\nmock:{"tokens":4000,"word_chars":8192}');
      socket!.write(clientFrame(JSON.stringify({ type: 'create', id: 'burst', body: burst })));
      await waitFor(() => stack.mock.stats.completed + stack.mock.stats.aborted === 1, {
        timeoutMs: 30_000,
        what: 'the upstream answer ended',
      });
      await new Promise((r) => setTimeout(r, 500)); // what was relayed has reached the ingress
      expect(warn.mock.calls.filter((args) => args.includes('websocket client too slow; dropping the socket'))).toHaveLength(1);
    } finally {
      warn.mockRestore();
      socket!.destroy();
    }
  }, 40_000);
});
