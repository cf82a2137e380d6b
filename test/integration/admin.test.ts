// The tenant control plane through a whole Switchyard on real NATS and Postgres: admin auth, tenant
// CRUD, key lifecycle (revocation must bite at once, with a cache TTL far longer than the test),
// model policy, usage isolation between tenants, and OpenAI-style validation errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { buildIngress } from '../../services/ingress/server.ts';
import { connectNats } from '../../shared/nats/connection.ts';

const ADMIN = 'adm';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      ADMIN_API_KEY: ADMIN,
      WORKER_MAX_RETRIES: '0',
      // Ten minutes: anything that takes effect during the test did so by invalidation, not expiry.
      AUTH_CACHE_TTL_MS: '600000',
      // A request that slipped past the policy to a provider without workers fails fast, not hangs.
      REQUEST_TIMEOUT_MS: '5000',
    },
  });
});
afterAll(async () => stack?.close());

interface Res {
  status: number;
  // Loosely typed on purpose: each test asserts the fields it cares about.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Headers;
}

async function call(method: string, path: string, opts: { key?: string | null; body?: unknown } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? ADMIN : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.url}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const adminCall = (method: string, path: string, body?: unknown) => call(method, `/admin/v1${path}`, { body });

async function newTenant(body: Record<string, unknown> = {}) {
  const res = await adminCall('POST', '/tenants', { name: `t-${Math.random().toString(36).slice(2, 8)}`, ...body });
  expect(res.status).toBe(201);
  return res.body as { id: string; name: string };
}

async function newKey(tenantId: string, body: Record<string, unknown> = {}) {
  const res = await adminCall('POST', `/tenants/${tenantId}/keys`, body);
  expect(res.status).toBe(201);
  return res.body as { id: string; key: string; prefix: string };
}

function chat(key: string, model = 'openai/gpt-4o-mini', tokens = 3) {
  return call('POST', '/v1/chat/completions', {
    key,
    body: { model, messages: [{ role: 'user', content: `hi\nmock:{"tokens":${tokens}}` }] },
  });
}

/**
 * A second ingress with its own NATS connection and its own key cache, as another process would
 * have: what it learns about revocations and tenant changes, it learns over NATS.
 */
async function otherIngress() {
  const nats = await connectNats(stack.env.NATS_URL!, 'admin-test-other-ingress');
  const ingress = await buildIngress({ config: stack.runtime.config, nats, db: stack.db, log: stack.runtime.log });
  return {
    chat: async (key: string, model: string) =>
      (
        await ingress.app.inject({
          method: 'POST',
          url: '/v1/chat/completions',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          payload: { model, messages: [{ role: 'user', content: 'hi' }] },
        })
      ).statusCode,
    async close() {
      await ingress.close();
      await nats.nc.close();
    },
  };
}

function expectError(res: Res, status: number, fields: { type?: string; code?: string; param?: string | null }) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(res.body.error).toMatchObject(fields);
  expect(typeof res.body.error.message).toBe('string');
}

describe('admin authentication', () => {
  it('rejects a missing, wrong or tenant key with 401', async () => {
    expectError(await call('GET', '/admin/v1/tenants', { key: null }), 401, { type: 'authentication_error', code: 'missing_api_key' });
    expectError(await call('GET', '/admin/v1/tenants', { key: 'adm-wrong' }), 401, { code: 'invalid_admin_key' });
    expectError(await call('GET', '/admin/v1/tenants', { key: 'ad' }), 401, { code: 'invalid_admin_key' });
    expectError(await call('GET', '/admin/v1/tenants', { key: stack.apiKey }), 401, { code: 'invalid_admin_key' });
    const ok = await call('GET', '/admin/v1/tenants');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('answers 404 with a clear message when ADMIN_API_KEY is unset', async () => {
    const ing = await buildIngress({
      config: { ...stack.runtime.config, ADMIN_API_KEY: undefined },
      nats: stack.runtime.nats,
      db: stack.db,
      log: stack.runtime.log,
    });
    try {
      for (const url of ['/admin/v1/tenants', '/admin/v1/keys/x', '/admin/v1']) {
        const res = await ing.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN}` } });
        expect(res.statusCode).toBe(404);
        expect(res.json().error).toMatchObject({ code: 'admin_api_disabled', type: 'not_found_error' });
        expect(res.json().error.message).toMatch(/ADMIN_API_KEY/);
      }
    } finally {
      await ing.close();
    }
  });
});

describe('tenants', () => {
  it('create, get, patch, and 404 for unknown ids', async () => {
    const created = await adminCall('POST', '/tenants', {
      name: 'acme',
      allowed_models: ['openai/*', 'claude-*'],
      limits: { rpm: 600, tpm: 100_000, max_concurrency: 8 },
      budget: { usd: 250, period: 'month' },
    });
    expect(created.status).toBe(201);
    const t = created.body;
    expect(t).toMatchObject({
      object: 'tenant',
      name: 'acme',
      allowed_models: ['openai/*', 'claude-*'],
      limits: { rpm: 600, tpm: 100_000, max_concurrency: 8 },
      budget: { usd: 250, period: 'month' },
    });
    expect(t.id).toMatch(/^tenant_/);
    expect(new Date(t.created_at).getTime()).toBeGreaterThan(Date.now() - 60_000);

    expect((await adminCall('GET', `/tenants/${t.id}`)).body).toEqual(t);

    const patched = await adminCall('PATCH', `/tenants/${t.id}`, { name: 'acme-2', limits: { rpm: 10 }, budget: null });
    expect(patched.status).toBe(200);
    // Present fields replace, null clears, absent fields stay.
    expect(patched.body).toMatchObject({
      id: t.id,
      name: 'acme-2',
      limits: { rpm: 10 },
      budget: null,
      allowed_models: ['openai/*', 'claude-*'],
    });
    expect(new Date(patched.body.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(t.updated_at).getTime());
    expect((await adminCall('GET', `/tenants/${t.id}`)).body).toEqual(patched.body);

    expectError(await adminCall('GET', '/tenants/tenant_nope'), 404, { type: 'not_found_error' });
    expectError(await adminCall('PATCH', '/tenants/tenant_nope', { name: 'x' }), 404, { type: 'not_found_error' });
    expectError(await adminCall('POST', '/tenants/tenant_nope/keys', {}), 404, { type: 'not_found_error' });
    expectError(await adminCall('GET', '/tenants/tenant_nope/keys'), 404, { type: 'not_found_error' });
    expectError(await adminCall('GET', '/tenants/tenant_nope/usage'), 404, { type: 'not_found_error' });
    expectError(await adminCall('DELETE', '/keys/key_nope'), 404, { type: 'not_found_error' });
  });

  it('lists page with limit/after, newest first by default', async () => {
    const made = [await newTenant(), await newTenant(), await newTenant()];
    const newest = await adminCall('GET', '/tenants?limit=1');
    expect(newest.body).toMatchObject({ object: 'list', has_more: true, first_id: made[2]!.id, last_id: made[2]!.id });
    expect(newest.body.data.map((x: { id: string }) => x.id)).toEqual([made[2]!.id]);

    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(50);
      const res = await adminCall('GET', `/tenants?limit=2&order=asc${after ? `&after=${after}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((x: { id: string }) => x.id));
      if (!res.body.has_more) break;
      after = res.body.last_id;
    }
    const total = Number(
      (
        await stack.db
          .selectFrom('tenants')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    // Ascending order keeps the creation order of ours.
    const ours = seen.filter((id) => made.some((m) => m.id === id));
    expect(ours).toEqual(made.map((m) => m.id));

    expectError(await adminCall('GET', '/tenants?after=tenant_nope'), 400, { param: 'after' });
  });
});

describe('API keys', () => {
  it('create -> works -> revoke -> 401 at once, here and on another ingress', async () => {
    const t = await newTenant();
    const k = await newKey(t.id, { name: 'ci' });
    expect(k.key).toMatch(/^sy-/);
    expect(k).toMatchObject({
      object: 'api_key',
      tenant_id: t.id,
      name: 'ci',
      status: 'active',
      // A third of the 35-character key (shared/db/api-keys.ts keyPrefix).
      prefix: k.key.slice(0, 11),
      revoked_at: null,
    });
    expect(k.id).toMatch(/^key_/);

    const listed = await adminCall('GET', `/tenants/${t.id}/keys`);
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([expect.objectContaining({ id: k.id, prefix: k.prefix, status: 'active' })]);
    const raw = JSON.stringify(listed.body);
    expect(raw).not.toContain(k.key);
    expect(raw).not.toContain('key_hash');
    expect(listed.body.data[0]).not.toHaveProperty('key');

    const other = await otherIngress();
    const otherChat = () => other.chat(k.key, 'openai/gpt-4o-mini');
    try {
      // Both ingresses now hold the key in their cache (TTL ten minutes).
      const ok = await chat(k.key);
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect(ok.body.choices[0].message.content).toBe('tok0 tok1 tok2');
      expect(await otherChat()).toBe(200);

      const revoked = await adminCall('DELETE', `/keys/${k.id}`);
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ id: k.id, status: 'revoked', deleted: true });
      expect(revoked.body.revoked_at).toBeTruthy();

      expectError(await chat(k.key), 401, { code: 'invalid_api_key' });
      expectError(await call('GET', '/v1/usage', { key: k.key }), 401, { code: 'invalid_api_key' });
      // The other ingress learns over NATS; allow the broadcast's delivery, far below the cache TTL.
      await waitFor(async () => (await otherChat()) === 401, { timeoutMs: 2_000, what: 'revocation on the other ingress' });

      // Revoking again is harmless and keeps the first revocation time.
      const again = await adminCall('DELETE', `/keys/${k.id}`);
      expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
      expect((await adminCall('GET', `/tenants/${t.id}/keys`)).body.data[0]).toMatchObject({ id: k.id, status: 'revoked' });
    } finally {
      await other.close();
    }
  });

  it('an expired key gets 401, even while cached', async () => {
    const t = await newTenant();
    const expiresAt = Date.now() + 2_500;
    const k = await newKey(t.id, { expires_at: new Date(expiresAt).toISOString() });
    expect(new Date((k as unknown as { expires_at: string }).expires_at).getTime()).toBe(expiresAt);
    expect((await chat(k.key)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 100)));
    expectError(await chat(k.key), 401, { code: 'invalid_api_key' });
    expect((await adminCall('GET', `/tenants/${t.id}/keys`)).body.data[0]).toMatchObject({ id: k.id, status: 'expired' });

    // Unix seconds are accepted too.
    const unix = Math.floor(Date.now() / 1000) + 3600;
    const k2 = await newKey(t.id, { expires_at: unix });
    expect((k2 as unknown as { expires_at: string }).expires_at).toBe(new Date(unix * 1000).toISOString());
  });

  it('keys list pages per tenant', async () => {
    const t = await newTenant();
    const keys = [await newKey(t.id), await newKey(t.id), await newKey(t.id)];
    const p1 = await adminCall('GET', `/tenants/${t.id}/keys?limit=2&order=asc`);
    expect(p1.body.data.map((x: { id: string }) => x.id)).toEqual([keys[0]!.id, keys[1]!.id]);
    expect(p1.body.has_more).toBe(true);
    const p2 = await adminCall('GET', `/tenants/${t.id}/keys?limit=2&order=asc&after=${p1.body.last_id}`);
    expect(p2.body.data.map((x: { id: string }) => x.id)).toEqual([keys[2]!.id]);
    expect(p2.body.has_more).toBe(false);
    // A cursor from another tenant's list is not a cursor of this one.
    const other = await newTenant();
    expectError(await adminCall('GET', `/tenants/${other.id}/keys?after=${keys[0]!.id}`), 400, { param: 'after' });
  });
});

describe('model policy', () => {
  it('a key limited to gpt-* gets 403 on anthropic and 200 on openai, in chat and embeddings', async () => {
    const t = await newTenant();
    const k = await newKey(t.id, { allowed_models: ['gpt-*'] });
    expectError(await chat(k.key, 'anthropic/claude-sonnet-4-5'), 403, {
      type: 'permission_error',
      code: 'model_not_allowed',
      param: 'model',
    });
    expect((await chat(k.key, 'openai/gpt-4o-mini')).status).toBe(200);
    expect((await chat(k.key, 'gpt-4o-mini')).status).toBe(200);
    const emb = await call('POST', '/v1/embeddings', { key: k.key, body: { model: 'openai/text-embedding-3-small', input: 'x' } });
    expectError(emb, 403, { code: 'model_not_allowed', param: 'model' });
  });

  it('tenant and key lists both apply, and a tenant PATCH takes effect at once', async () => {
    const t = await newTenant({ allowed_models: ['openai/*'] });
    const wide = await newKey(t.id, { allowed_models: ['*'] });
    const narrow = await newKey(t.id, { allowed_models: ['anthropic/*'] });
    expectError(await chat(wide.key, 'anthropic/claude-sonnet-4-5'), 403, { code: 'model_not_allowed' });
    expect((await chat(wide.key, 'openai/gpt-4o-mini')).status).toBe(200);
    expectError(await chat(narrow.key, 'openai/gpt-4o-mini'), 403, { code: 'model_not_allowed' });
    expectError(await chat(narrow.key, 'anthropic/claude-sonnet-4-5'), 403, { code: 'model_not_allowed' });

    // `wide` is cached with the old tenant list, here and on another ingress; the PATCH must drop it
    // now, not in ten minutes.
    const other = await otherIngress();
    try {
      expect(await other.chat(wide.key, 'openai/gpt-4o-mini')).toBe(200);
      expect((await adminCall('PATCH', `/tenants/${t.id}`, { allowed_models: ['groq/*'] })).status).toBe(200);
      expectError(await chat(wide.key, 'openai/gpt-4o-mini'), 403, { code: 'model_not_allowed' });
      await waitFor(async () => (await other.chat(wide.key, 'openai/gpt-4o-mini')) === 403, {
        timeoutMs: 2_000,
        what: 'tenant change on the other ingress',
      });
      expect((await adminCall('PATCH', `/tenants/${t.id}`, { allowed_models: null })).status).toBe(200);
      expect((await chat(wide.key, 'openai/gpt-4o-mini')).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('usage', () => {
  it("per tenant, grouped by day and by model; a tenant's key sees only its own tenant", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const ka = await newKey(a.id);
    const kb = await newKey(b.id);
    const results = [
      await chat(ka.key, 'openai/gpt-4o-mini', 3),
      await chat(ka.key, 'openai/gpt-4o-mini', 4),
      await chat(ka.key, 'gpt-4o-mini', 2),
      await chat(kb.key, 'openai/gpt-4o-mini', 7),
    ];
    for (const r of results) expect(r.status).toBe(200);
    const [ra, rb] = [results.slice(0, 3), results.slice(3)];
    const sum = (rs: Res[], f: (r: Res) => number) => rs.reduce((s, r) => s + f(r), 0);

    // The ledger writes asynchronously: poll until every request is counted.
    const adminA = await waitFor(
      async () => {
        const r = await adminCall('GET', `/tenants/${a.id}/usage`);
        return r.body.data[0]?.requests === 3 ? r : undefined;
      },
      { what: "tenant A's usage" },
    );
    const adminB = await waitFor(
      async () => {
        const r = await adminCall('GET', `/tenants/${b.id}/usage`);
        return r.body.data[0]?.requests === 1 ? r : undefined;
      },
      { what: "tenant B's usage" },
    );

    const rows = await stack.db
      .selectFrom('usage')
      .select(['request_id', 'cost_usd'])
      .where(
        'request_id',
        'in',
        results.map((r) => r.headers.get('x-request-id')!),
      )
      .execute();
    const costOf = (rs: Res[]) => sum(rs, (r) => Number(rows.find((x) => x.request_id === r.headers.get('x-request-id'))!.cost_usd));
    const today = new Date().toISOString().slice(0, 10);

    expect(adminA.body).toMatchObject({ object: 'list', group_by: 'day' });
    expect(adminA.body.data).toEqual([
      {
        day: today,
        requests: 3,
        input_tokens: sum(ra, (r) => r.body.usage.prompt_tokens),
        cached_input_tokens: 0,
        output_tokens: 9,
        reasoning_tokens: 0,
        cost_usd: expect.closeTo(costOf(ra), 8),
      },
    ]);
    expect(adminA.body.data[0].cost_usd).toBeGreaterThan(0);
    expect(adminB.body.data).toEqual([
      expect.objectContaining({ day: today, requests: 1, output_tokens: 7, input_tokens: rb[0]!.body.usage.prompt_tokens }),
    ]);

    const byModel = await adminCall('GET', `/tenants/${a.id}/usage?group_by=model`);
    expect(
      byModel.body.data.map((d: { model: string; requests: number; output_tokens: number }) => [d.model, d.requests, d.output_tokens]),
    ).toEqual([
      ['gpt-4o-mini', 1, 2],
      ['openai/gpt-4o-mini', 2, 7],
    ]);
    expect(byModel.body.data[0]).not.toHaveProperty('day');

    // The tenant API shows the caller's own tenant, and nothing else can be asked for.
    const ownA = await call('GET', '/v1/usage', { key: ka.key });
    expect(ownA.status).toBe(200);
    expect(ownA.body.data).toEqual(adminA.body.data);
    expect((await call('GET', '/v1/usage?group_by=model', { key: kb.key })).body.data).toEqual([
      expect.objectContaining({ model: 'openai/gpt-4o-mini', requests: 1, output_tokens: 7 }),
    ]);
    expectError(await call('GET', `/v1/usage?tenant_id=${b.id}`, { key: ka.key }), 400, { param: 'tenant_id' });
    expectError(await call('GET', '/v1/usage', { key: null }), 401, { code: 'missing_api_key' });

    // Date windows: a bare `to` date includes that day; the window is [from, to).
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect((await adminCall('GET', `/tenants/${a.id}/usage?from=${today}&to=${today}`)).body.data).toHaveLength(1);
    expect((await adminCall('GET', `/tenants/${a.id}/usage?from=${tomorrow}&to=${tomorrow}`)).body).toMatchObject({ data: [] });
    // Without `to` the window ends now, so a future `from` is an empty window: a 400, not a silent [].
    expectError(await adminCall('GET', `/tenants/${a.id}/usage?from=${tomorrow}`), 400, { param: 'to' });
    expect((await adminCall('GET', `/tenants/${a.id}/usage?to=${yesterday}`)).body).toMatchObject({ data: [] });
    const window = await adminCall(
      'GET',
      `/tenants/${a.id}/usage?from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`,
    );
    expect(window.body.data[0].requests).toBe(3);
  });
});

describe('validation errors name the field', () => {
  it.each([
    ['POST', '/tenants', {}, 'name', 'missing_required_parameter'],
    ['POST', '/tenants', { name: '' }, 'name', 'invalid_value'],
    ['POST', '/tenants', { name: 'x', limits: { rpm: -1 } }, 'limits.rpm', 'invalid_value'],
    ['POST', '/tenants', { name: 'x', limits: { rpm: 1.5 } }, 'limits.rpm', 'invalid_value'],
    ['POST', '/tenants', { name: 'x', limits: { rmp: 1 } }, 'limits.rmp', 'unknown_parameter'],
    ['POST', '/tenants', { name: 'x', allowed_models: ['gpt-*', 'bad model'] }, 'allowed_models[1]', 'invalid_value'],
    ['POST', '/tenants', { name: 'x', allowedModels: ['gpt-*'] }, 'allowedModels', 'unknown_parameter'],
    ['POST', '/tenants', { name: 'x', budget: { usd: 5, period: 'week' } }, 'budget.period', 'invalid_value'],
    ['POST', '/tenants', { name: 'x', budget: { period: 'day' } }, 'budget.usd', 'missing_required_parameter'],
    ['PATCH', '/tenants/{t}', { name: 42 }, 'name', 'invalid_type'],
    ['POST', '/tenants/{t}/keys', { expires_at: '2001-01-01T00:00:00Z' }, 'expires_at', 'invalid_value'],
    ['POST', '/tenants/{t}/keys', { expires_at: 'tomorrow' }, 'expires_at', 'invalid_value'],
    ['POST', '/tenants/{t}/keys', { limits: { tpm: 'lots' } }, 'limits.tpm', 'invalid_type'],
    ['GET', '/tenants?limit=0', undefined, 'limit', 'invalid_value'],
    ['GET', '/tenants?limit=abc', undefined, 'limit', 'invalid_value'],
    ['GET', '/tenants?order=up', undefined, 'order', 'invalid_value'],
    ['GET', '/tenants/{t}/usage?group_by=week', undefined, 'group_by', 'invalid_value'],
    ['GET', '/tenants/{t}/usage?from=last-week', undefined, 'from', 'invalid_value'],
    ['GET', '/tenants/{t}/usage?from=2025-02-10&to=2025-02-01', undefined, 'to', 'invalid_value'],
  ])('%s %s %j -> 400 %s', async (method, path, body, param, code) => {
    const t = await newTenant();
    const res = await adminCall(method, path.replace('{t}', t.id), body);
    expectError(res, 400, { type: 'invalid_request_error', param, code });
  });

  it('a body that is not a JSON object', async () => {
    expectError(await adminCall('POST', '/tenants', ['x']), 400, { code: 'invalid_json' });
    const res = await fetch(`${stack.url}/admin/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
  });
});
