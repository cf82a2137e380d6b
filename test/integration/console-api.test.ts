// The console's read API (/console/api) on a whole Switchyard, without a browser: which key sees
// which tenant, usage grouped by key, requests and errors per minute, and the OpenAI-style errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

const ADMIN = 'console-api-admin';
let stack: Stack;
const a = { id: '', key1: '', key1Id: '', key2: '', key2Id: '' };
const b = { id: '', key: '' };

async function call(path: string, key: string | null, init: { method?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, body: (text ? JSON.parse(text) : null) as any };
}

async function chat(key: string, content: string) {
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }),
  });
  await res.text();
  return { status: res.status, id: res.headers.get('x-request-id')! };
}

beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, WORKER_MAX_RETRIES: '0' } });
  const ta = await call('/admin/v1/tenants', ADMIN, { method: 'POST', body: { name: 'console-a' } });
  const tb = await call('/admin/v1/tenants', ADMIN, { method: 'POST', body: { name: 'console-b' } });
  const k1 = await call(`/admin/v1/tenants/${ta.body.id}/keys`, ADMIN, { method: 'POST', body: { name: 'one' } });
  const k2 = await call(`/admin/v1/tenants/${ta.body.id}/keys`, ADMIN, { method: 'POST', body: { name: 'two' } });
  const kb = await call(`/admin/v1/tenants/${tb.body.id}/keys`, ADMIN, { method: 'POST', body: {} });
  Object.assign(a, { id: ta.body.id, key1: k1.body.key, key1Id: k1.body.id, key2: k2.body.key, key2Id: k2.body.id });
  Object.assign(b, { id: tb.body.id, key: kb.body.key });
  // Tenant A: two requests on key one, one on key two, and one the upstream refuses; B: one request.
  const sent = [
    await chat(a.key1, 'hi\nmock:{"tokens":3}'),
    await chat(a.key1, 'hi\nmock:{"tokens":4}'),
    await chat(a.key2, 'hi\nmock:{"tokens":5}'),
    await chat(a.key2, 'x\nmock:{"error":{"status":400,"message":"nope"}}'),
    await chat(b.key, 'hi'),
  ];
  expect(sent.map((s) => s.status)).toEqual([200, 200, 200, 400, 200]);
  await Promise.all(sent.map((s) => waitForUsageRow(stack.db, s.id)));
});
afterAll(async () => stack?.close());

describe('GET /console/api/session', () => {
  it('tells the admin from a tenant, and refuses no key or a wrong one', async () => {
    expect((await call('/console/api/session', ADMIN)).body).toEqual({ role: 'admin', tenant: null });
    const tenant = await call('/console/api/session', a.key1);
    expect(tenant.body).toMatchObject({ role: 'tenant', tenant: { id: a.id, name: 'console-a', object: 'tenant' } });
    const none = await call('/console/api/session', null);
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ type: 'authentication_error' });
    expect((await call('/console/api/session', 'sy-wrong')).status).toBe(401);
    // The key is checked first: a bad query without a key is still a 401, not a 400.
    expect((await call('/console/api/activity?minutes=0', null)).status).toBe(401);
  });
});

describe('tenant scope', () => {
  it("a tenant key reads its own tenant's keys; naming another tenant is a 404", async () => {
    const own = await call('/console/api/keys', a.key1);
    expect(own.status).toBe(200);
    expect(own.body.data.map((k: { id: string }) => k.id).sort()).toEqual([a.key1Id, a.key2Id].sort());
    const other = await call(`/console/api/keys?tenant_id=${b.id}`, a.key1);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('not_found');
    expect((await call(`/console/api/usage?tenant_id=${b.id}`, a.key1)).status).toBe(404);
    expect((await call(`/console/api/batches?tenant_id=${b.id}`, a.key1)).status).toBe(404);
    expect((await call(`/console/api/activity?tenant_id=${b.id}`, a.key1)).status).toBe(404);
  });

  it('the admin names the tenant: missing is a 400 naming tenant_id, unknown a 404', async () => {
    const missing = await call('/console/api/keys', ADMIN);
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ param: 'tenant_id', code: 'missing_required_parameter' });
    expect((await call('/console/api/keys?tenant_id=tenant_nope', ADMIN)).status).toBe(404);
    const keys = await call(`/console/api/keys?tenant_id=${b.id}`, ADMIN);
    expect(keys.body.data).toHaveLength(1);
  });
});

describe('GET /console/api/usage', () => {
  it('groups by key, for the admin and for the tenant alike', async () => {
    const expected = [
      { key_id: a.key1Id, requests: 2 },
      { key_id: a.key2Id, requests: 2 },
    ].sort((x, y) => x.key_id.localeCompare(y.key_id));
    for (const [key, query] of [
      [ADMIN, `?tenant_id=${a.id}&group_by=key`],
      [a.key2, '?group_by=key'],
    ] as const) {
      const res = await call(`/console/api/usage${query}`, key);
      expect(res.status).toBe(200);
      expect(res.body.group_by).toBe('key');
      expect(res.body.data.map((r: { key_id: string; requests: number }) => ({ key_id: r.key_id, requests: r.requests }))).toEqual(
        expected,
      );
    }
    // The admin API and GET /v1/usage take group_by=key too.
    const admin = await call(`/admin/v1/tenants/${a.id}/usage?group_by=key`, ADMIN);
    expect(admin.body.data.map((r: { key_id: string }) => r.key_id)).toEqual(expected.map((e) => e.key_id));
    const own = await call('/v1/usage?group_by=key', b.key);
    expect(own.body.data).toHaveLength(1);
  });

  it('rejects a bad group_by with the field named', async () => {
    const res = await call(`/console/api/usage?tenant_id=${a.id}&group_by=week`, ADMIN);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'group_by', code: 'invalid_value' });
  });
});

describe('GET /console/api/activity', () => {
  it("counts a tenant's requests and errors per minute; the admin without tenant_id sees every tenant", async () => {
    const sum = (rows: { requests: number; errors: number }[]) =>
      rows.reduce((s, r) => ({ requests: s.requests + r.requests, errors: s.errors + r.errors }), { requests: 0, errors: 0 });
    const own = await call('/console/api/activity', a.key1);
    expect(own.status).toBe(200);
    expect(own.body.minutes).toBe(15);
    expect(sum(own.body.data)).toEqual({ requests: 4, errors: 1 });
    for (const row of own.body.data) expect(row.minute).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
    const all = await call('/console/api/activity?minutes=60', ADMIN);
    expect(sum(all.body.data).requests).toBeGreaterThanOrEqual(5);
    const bad = await call('/console/api/activity?minutes=0', ADMIN);
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('minutes');
  });
});

describe('GET /console/api/batches', () => {
  it('lists none for a tenant without batches', async () => {
    expect((await call('/console/api/batches', b.key)).body).toEqual({ object: 'list', data: [] });
  });
});
