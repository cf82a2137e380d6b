// The exact-match response cache through the official openai SDK, on real NATS KV and the ledger:
// a second identical request makes no upstream call and answers `x-switchyard-cache: hit`, its
// stream replays the first one's chunks, a hit is a ledger row with cost 0; caching is per tenant,
// `no-store` bypasses it, and a cache whose bucket is gone still answers (as a miss).
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { RESPONSE_CACHE_BUCKET } from '../../shared/nats/topology.ts';
import { REOPEN_AFTER_MS } from '../../services/ingress/response-cache/store.ts';

const ADMIN = 'admin-cache-test';
let stack: Stack;
let plain: OpenAI; // the bootstrap key: its tenant has no cache setting

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A client of a new tenant (and key) with the given cache settings. */
async function clientOf(tenantCache: { ttl_seconds: number } | null, keyCache?: { ttl_seconds: number }) {
  const tenant = await admin('POST', '/tenants', { name: `t-${Math.random()}`, cache: tenantCache });
  expect(tenant.status).toBe(201);
  expect(tenant.body.cache).toEqual(tenantCache);
  const key = await admin('POST', `/tenants/${String(tenant.body.id)}/keys`, keyCache ? { cache: keyCache } : {});
  expect(key.status).toBe(201);
  return new OpenAI({ apiKey: String(key.body.key), baseURL: `${stack.url}/v1`, maxRetries: 0 });
}

const ask = (text: string, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) => ({
  model: 'openai/gpt-4o-mini',
  messages: [{ role: 'user' as const, content: text }],
  ...extra,
});

async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>) {
  let text = '';
  let finish: string | null = null;
  let contentDeltas = 0;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const c of stream) {
    const choice = c.choices[0];
    if (choice?.delta.content) {
      text += choice.delta.content;
      contentDeltas++;
    }
    if (choice?.finish_reason) finish = choice.finish_reason;
    if (c.usage) usage = c.usage;
  }
  return { text, finish, contentDeltas, usage };
}

beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, WORKER_MAX_RETRIES: '0' } });
  plain = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => stack?.close());

describe('response cache', () => {
  it('tenant opt-in: the second identical request is a hit with no upstream call, recorded at cost 0', async () => {
    const client = await clientOf({ ttl_seconds: 300 });
    const body = ask('cache me\nmock:{"text":"cached words here"}', { user: 'alice' });
    const first = await client.chat.completions.create(body).withResponse();
    expect(first.response.headers.get('x-switchyard-cache')).toBe('miss');
    expect(first.data.choices[0]!.message.content).toBe('cached words here');
    await waitForUsageRow(stack.db, first.response.headers.get('x-request-id')!);

    const upstreamCalls = stack.mock.stats.requests;
    // `user` is not part of the key: another end user asking the same gets the same answer.
    const second = await client.chat.completions.create({ ...body, user: 'bob' }).withResponse();
    expect(second.response.headers.get('x-switchyard-cache')).toBe('hit');
    expect(stack.mock.stats.requests).toBe(upstreamCalls);
    expect(second.data.choices[0]!.message).toEqual(first.data.choices[0]!.message);
    expect(second.data.choices[0]!.finish_reason).toBe('stop');
    expect(second.data.usage).toEqual(first.data.usage);
    expect(second.data.model).toBe('openai/gpt-4o-mini');

    const firstRow = await waitForUsageRow(stack.db, first.response.headers.get('x-request-id')!);
    const hitRow = await waitForUsageRow(stack.db, second.response.headers.get('x-request-id')!);
    expect(firstRow.cache_hit).toBe(false);
    expect(hitRow).toMatchObject({ cache_hit: true, status: 'ok', provider: 'openai', attempts: 0, output_tokens: 3 });
    expect(Number(hitRow.cost_usd)).toBe(0);
    expect(Number(firstRow.cost_usd)).toBeGreaterThan(0);
  });

  it('a replayed stream has the same content, finish reason and number of content deltas; JSON shares the entry', async () => {
    const client = await clientOf({ ttl_seconds: 300 });
    const body = {
      ...ask('stream me\nmock:{"tokens":12,"itl_ms":1}'),
      stream: true as const,
      stream_options: { include_usage: true },
    };
    const first = await client.chat.completions.create(body).withResponse();
    expect(first.response.headers.get('x-switchyard-cache')).toBe('miss');
    const a = await collect(first.data);
    expect(a.contentDeltas).toBeGreaterThan(1);
    expect(a.finish).toBe('stop');

    const upstreamCalls = stack.mock.stats.requests;
    // Stored asynchronously after the stream ended: wait until the entry is there.
    let second;
    for (let i = 0; i < 50; i++) {
      second = await client.chat.completions.create(body).withResponse();
      if (second.response.headers.get('x-switchyard-cache') === 'hit') break;
      await collect(second.data);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(second!.response.headers.get('x-switchyard-cache')).toBe('hit');
    const b = await collect(second!.data);
    expect(b).toEqual(a);
    expect(stack.mock.stats.requests).toBe(upstreamCalls);

    // The same request without streaming is the same entry, assembled into one message.
    const json = await client.chat.completions.create(ask('stream me\nmock:{"tokens":12,"itl_ms":1}')).withResponse();
    expect(json.response.headers.get('x-switchyard-cache')).toBe('hit');
    expect(json.data.choices[0]!.message.content).toBe(a.text);
    expect(stack.mock.stats.requests).toBe(upstreamCalls);
  });

  it("is scoped per tenant: another tenant's identical request is a miss", async () => {
    const one = await clientOf({ ttl_seconds: 300 });
    const two = await clientOf({ ttl_seconds: 300 });
    const body = ask('tenant scoped\nmock:{"text":"mine"}');
    await one.chat.completions.create(body);
    await waitForHit(one, body);
    const other = await two.chat.completions.create(body).withResponse();
    expect(other.response.headers.get('x-switchyard-cache')).toBe('miss');
  });

  it('per request: a TTL header turns it on, no-store bypasses it, a bad value is a 400', async () => {
    const body = ask('per request\nmock:{"text":"header ttl"}');
    const off = await plain.chat.completions.create(body).withResponse();
    expect(off.response.headers.get('x-switchyard-cache')).toBeNull(); // caching off: no header at all

    const on = { headers: { 'x-switchyard-cache': '120' } };
    expect((await plain.chat.completions.create(body, on).withResponse()).response.headers.get('x-switchyard-cache')).toBe('miss');
    await waitForHit(plain, body, on);

    const calls = stack.mock.stats.requests;
    const bypass = await plain.chat.completions.create(body, { headers: { 'x-switchyard-cache': 'no-store' } }).withResponse();
    expect(bypass.response.headers.get('x-switchyard-cache')).toBeNull();
    expect(stack.mock.stats.requests).toBe(calls + 1);

    const bad = await plain.chat.completions.create(body, { headers: { 'x-switchyard-cache': 'forever' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      code: 'invalid_cache_header',
      param: 'x-switchyard-cache',
    });
  });

  it("a key's ttl_seconds: 0 turns off its tenant's cache", async () => {
    const client = await clientOf({ ttl_seconds: 300 }, { ttl_seconds: 0 });
    const res = await client.chat.completions.create(ask('key off\nmock:{"text":"x"}')).withResponse();
    expect(res.response.headers.get('x-switchyard-cache')).toBeNull();
  });

  it('failed and incomplete answers are not stored', async () => {
    const client = await clientOf({ ttl_seconds: 300 });
    const body = ask('filtered\nmock:{"text":"no","finish_reason":"content_filter"}');
    await client.chat.completions.create(body);
    await new Promise((r) => setTimeout(r, 300));
    expect((await client.chat.completions.create(body).withResponse()).response.headers.get('x-switchyard-cache')).toBe('miss');
  });

  it('a deleted bucket (KV outage) still answers, as a miss', async () => {
    const client = await clientOf({ ttl_seconds: 300 });
    const body = ask('outage\nmock:{"text":"still here"}');
    await client.chat.completions.create(body);
    await waitForHit(client, body);
    await stack.runtime.nats.jsm.streams.delete(`KV_${RESPONSE_CACHE_BUCKET}`);
    for (let i = 0; i < 2; i++) {
      const res = await client.chat.completions.create(body).withResponse();
      expect(res.response.headers.get('x-switchyard-cache')).toBe('miss');
      expect(res.data.choices[0]!.message.content).toBe('still here');
    }
    const stream = await client.chat.completions.create({ ...body, stream: true });
    expect((await collect(stream)).text).toBe('still here');

    // Outages are counted; then, past the reopen delay, the bucket is created again and caching resumes
    // although requests kept arriving during the outage.
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_response_cache_lookups_total\{result="error"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_response_cache_lookups_total\{result="hit"\} [1-9]/);
    const until = Date.now() + REOPEN_AFTER_MS + 500;
    while (Date.now() < until) {
      await client.chat.completions.create(body);
      await new Promise((r) => setTimeout(r, 500));
    }
    await client.chat.completions.create(body);
    await waitForHit(client, body);
  });
});

describe('cache settings in the admin API', () => {
  it('PATCH turns a tenant on and off at once (every ingress drops its cached principals)', async () => {
    const body = ask('patched\nmock:{"text":"p"}');
    const on = await admin('PATCH', '/tenants/tenant_default', { cache: { ttl_seconds: 60 } });
    expect(on.body.cache).toEqual({ ttl_seconds: 60 });
    expect((await plain.chat.completions.create(body).withResponse()).response.headers.get('x-switchyard-cache')).toBe('miss');
    await waitForHit(plain, body);
    const off = await admin('PATCH', '/tenants/tenant_default', { cache: null });
    expect(off.body.cache).toBeNull();
    expect((await plain.chat.completions.create(body).withResponse()).response.headers.get('x-switchyard-cache')).toBeNull();
  });

  it('refuses a bad setting with a 400 naming the field', async () => {
    const bad = await admin('POST', '/tenants', { name: 'bad', cache: { ttl_seconds: -5 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: 'cache.ttl_seconds' });
    const typo = await admin('POST', '/tenants', { name: 'bad', cache: { ttl: 5 } });
    expect(typo.status).toBe(400);
  });
});

/** Repeats the request until the entry stored after its first answer is there (stores are fire and forget). */
async function waitForHit(client: OpenAI, body: OpenAI.ChatCompletionCreateParamsNonStreaming, opts?: OpenAI.RequestOptions) {
  for (let i = 0; i < 50; i++) {
    const res = await client.chat.completions.create(body, opts).withResponse();
    if (res.response.headers.get('x-switchyard-cache') === 'hit') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no cache hit');
}
