// Revocation and expiry reach connections opened before them (hostile-input hardening, part 3), and
// one key cannot hold an unbounded number of WebSockets (part 8), against real NATS and Postgres with
// two ingress processes.
import { rawUpgrade } from '../harness/ws-upgrade.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { SwitchyardWsClient } from '../../shared/client/ws-client.ts';
import { WS_CLOSE } from '../../shared/protocol/websocket.ts';

const ADMIN = 'adm-live-sockets';
const MAX_SOCKETS = 3;
let stack: Stack;
let ingresses: string[];

beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, WS_MAX_SOCKETS_PER_KEY: String(MAX_SOCKETS), AUTH_CACHE_TTL_MS: '4000' } });
  const port = await freePort();
  await stack.spawn('ingress', { PORT: String(port) });
  ingresses = [stack.url, `http://127.0.0.1:${port}`];
}, 60_000);
afterAll(async () => stack?.close());

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

let tenantId: string;
async function newKey(extra: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  tenantId ??= String((await admin('POST', '/tenants', { name: `live-${Date.now()}` })).body.id);
  const res = await admin('POST', `/tenants/${tenantId}/keys`, extra);
  expect(res.status).toBe(201);
  return { id: String(res.body.id), key: String(res.body.key) };
}

const slowChat = (tag: string) => ({
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user', content: `${tag}\nmock:{"tokens":500,"itl_ms":20}` }],
});

describe('revocation and expiry on live connections', () => {
  it('a revoked key closes its sockets on every ingress within a second and cancels their requests', async () => {
    const { id, key } = await newKey();
    const sockets = await Promise.all(ingresses.map((url) => SwitchyardWsClient.connect(url, key)));
    const running = sockets.map((ws, i) => {
      let chunks = 0;
      const h = ws.chat(slowChat(`live ${i}`), { onChunk: () => chunks++ });
      return { h, chunks: () => chunks };
    });
    await waitFor(() => running.every((r) => r.chunks() > 0), { what: 'both requests streaming' });
    const requestIds = await Promise.all(running.map((r) => r.h.requestId));

    const revokedAt = Date.now();
    expect((await admin('DELETE', `/keys/${id}`)).status).toBe(200);
    const closes = await Promise.all(sockets.map((ws) => ws.closed.then((c) => ({ ...c, afterMs: Date.now() - revokedAt }))));
    for (const [i, c] of closes.entries()) {
      expect(c.code).toBe(WS_CLOSE.unauthorized);
      expect(c.afterMs).toBeLessThan(1_000);
      expect(sockets[i]!.socketErrors[0]?.error.code).toBe('invalid_api_key');
      await expect(running[i]!.h.result).rejects.toThrow();
    }
    // The requests stopped at once (no resume grace for a revoked key): cancelled rows, upstream aborted.
    const rows = await waitFor(async () => {
      const r = await stack.db.selectFrom('usage').selectAll().where('request_id', 'in', requestIds).execute();
      return r.length === 2 ? r : undefined;
    });
    expect(rows.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    expect(rows.every((r) => Number(r.output_tokens) < 400)).toBe(true);

    // No new work with the key, on any surface of any ingress.
    for (const url of ingresses) {
      const post = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...slowChat('after'), stream: true }),
      });
      expect(post.status).toBe(401);
      expect(((await post.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
      const resumed = await fetch(`${url}/v1/requests/${requestIds[0]}/events`, { headers: { authorization: `Bearer ${key}` } });
      expect(resumed.status).toBe(401);
      await expect(SwitchyardWsClient.connect(url, key)).rejects.toThrow();
    }
  });

  it('a revocation whose broadcast was missed still closes the sockets, at the auth cache pace', async () => {
    const { id, key } = await newKey();
    const sockets = await Promise.all(ingresses.map((url) => SwitchyardWsClient.connect(url, key)));
    // Revoked in the database only: no ingress hears a broadcast.
    await stack.db.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', id).execute();
    const revokedAt = Date.now();
    const closes = await Promise.all(sockets.map((ws) => ws.closed.then((c) => ({ ...c, afterMs: Date.now() - revokedAt }))));
    for (const c of closes) {
      expect(c.code).toBe(WS_CLOSE.unauthorized);
      expect(c.afterMs).toBeLessThan(6_000); // AUTH_CACHE_TTL_MS = 4 s (longer than the broadcast test's 1 s bound), plus the query
    }
  });

  it('a key that expires while its sockets are open closes them at expiry', async () => {
    const expiresAt = new Date(Date.now() + 2_500);
    const { key } = await newKey({ expires_at: expiresAt.toISOString() });
    const sockets = await Promise.all(ingresses.map((url) => SwitchyardWsClient.connect(url, key)));
    const first = await sockets[0]!.chat({ ...slowChat('before expiry'), messages: [{ role: 'user', content: 'hi' }] }).result;
    expect(first.content.length).toBeGreaterThan(0);
    const closes = await Promise.all(sockets.map((ws) => ws.closed.then((c) => ({ ...c, at: Date.now() }))));
    for (const [i, c] of closes.entries()) {
      expect(c.code).toBe(WS_CLOSE.unauthorized);
      expect(c.at).toBeGreaterThanOrEqual(expiresAt.getTime() - 50);
      expect(c.at - expiresAt.getTime()).toBeLessThan(1_000);
      expect(sockets[i]!.socketErrors[0]?.error.message).toMatch(/expired/);
    }
  });
});

describe('WebSockets per key', () => {
  it(`refuses socket ${MAX_SOCKETS + 1} of one key with a 429 envelope, and takes it again once one closed`, async () => {
    const { key } = await newKey();
    const open = await Promise.all(Array.from({ length: MAX_SOCKETS }, () => SwitchyardWsClient.connect(stack.url, key)));
    const refused = await rawUpgrade(stack.url, { authorization: `Bearer ${key}` });
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect((JSON.parse(refused.body) as { error: { code: string } }).error.code).toBe('too_many_sockets');
    await expect(SwitchyardWsClient.connect(stack.url, key)).rejects.toThrow();
    // Another key is not affected, and the limit is per key, not per tenant's first key.
    const other = await newKey();
    const otherWs = await SwitchyardWsClient.connect(stack.url, other.key);
    const answered = await otherWs.chat({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'ok' }] }).result;
    expect(answered.content.length).toBeGreaterThan(0);

    open[0]!.close();
    await open[0]!.closed;
    const again = await waitFor(() => SwitchyardWsClient.connect(stack.url, key).catch(() => undefined), { what: 'a free slot' });
    for (const ws of [...open.slice(1), again, otherWs]) ws.close();
  });
});
