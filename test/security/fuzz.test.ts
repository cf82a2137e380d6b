// Property-based fuzzing of every route family (seeded, a few hundred requests): whatever arrives,
// the answer is a 2xx (the fuzzed input happened to be valid) or a 4xx in the OpenAI envelope, never
// a 5xx, a foreign body or a stack trace, and the server keeps serving.
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';

const ADMIN = 'sk-admin-fuzz';
// Seeded and bounded so the suite stays fast and repeatable; FUZZ_SEED / FUZZ_RUNS explore further.
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const RUNS_PER_FAMILY = Number(process.env.FUZZ_RUNS ?? 30);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, MAX_JSON_DEPTH: '64' } });
}, 60_000);
afterAll(async () => stack?.close());

// ---- inputs ----

const printable = fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~'.split('')), maxLength: 40 });
const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), printable);
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), anyText, fc.constantFrom(null, true, -1, 0, 1e308, '', [], {}));
const deep = fc.integer({ min: 60, max: 5000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);

const models = fc.oneof(
  fc.constantFrom('gpt-4o-mini', 'openai/gpt-4o-mini', 'openai/text-embedding-3-small', 'gemini/../../x#', 'nosuch/m', 'openai/', ''),
  anyText,
  anyValue,
);
const messages = fc.oneof(
  fc.constant([{ role: 'user', content: 'hi' }]),
  fc.array(
    fc.record(
      { role: fc.oneof(fc.constantFrom('user', 'system', 'assistant', 'tool', 'wizard'), anyText), content: anyValue },
      { requiredKeys: [] },
    ),
    {
      maxLength: 3,
    },
  ),
  anyValue,
);
/** Bodies near the valid shape (so validation goes deep) mixed with arbitrary values. */
const chatObject = fc.record(
  {
    model: models,
    messages,
    stream: fc.oneof(fc.boolean(), anyValue),
    temperature: fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), anyValue),
    max_tokens: fc.oneof(fc.integer({ min: -5, max: 50 }), anyValue),
    stop: anyValue,
    tools: anyValue,
    stream_options: anyValue,
    input: fc.oneof(anyText, fc.array(anyText, { maxLength: 3 }), anyValue),
    custom_id: anyText,
    name: anyText,
    allowed_models: anyValue,
    limits: anyValue,
    budget: anyValue,
    input_file_id: anyText,
    endpoint: fc.oneof(fc.constantFrom('/v1/chat/completions', '/v1/embeddings'), anyText),
    completion_window: fc.oneof(fc.constant('24h'), anyText),
    type: fc.oneof(fc.constantFrom('create', 'cancel', 'ping'), anyText),
    id: anyText,
    body: anyValue,
  },
  { requiredKeys: [] },
);
/** A valid request of some route with at most one field replaced: most fields stay right, one goes wrong. */
const VALID_BODIES: Record<string, unknown>[] = [
  { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
  { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } },
  { model: 'openai/text-embedding-3-small', input: 'hi' },
  { name: 'tenant', allowed_models: ['openai/*'], limits: { rpm: 100 } },
  { input_file_id: 'file-x', endpoint: '/v1/chat/completions', completion_window: '24h' },
];
const mutatedValid = fc
  .tuple(
    fc.constantFrom(...VALID_BODIES),
    fc.option(
      fc.tuple(
        fc.constantFrom('model', 'messages', 'stream', 'temperature', 'input', 'name', 'limits', 'endpoint', 'max_tokens'),
        anyValue,
      ),
    ),
  )
  .map(([base, change]) => JSON.stringify(change ? { ...base, [change[0]]: change[1] } : base));
const body = fc.oneof(
  { weight: 4, arbitrary: mutatedValid },
  { weight: 5, arbitrary: chatObject.map((o) => JSON.stringify(o)) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: anyText },
  { weight: 1, arbitrary: deep.map((d) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"x":${d}}`) },
  { weight: 1, arbitrary: fc.constant('') },
);

const contentType = fc.option(
  fc.oneof(
    { weight: 4, arbitrary: fc.constant('application/json') },
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/xml',
      'multipart/form-data',
      'multipart/form-data; boundary=x',
      `multipart/form-data; boundary=${'b'.repeat(300)}`,
      'application/x-www-form-urlencoded',
    ),
    printable,
  ),
  { nil: undefined, freq: 10 },
);
// Mostly valid keys, so most requests get past auth into validation, routing and the worker.
const authorization = fc.option(
  fc.oneof(
    { weight: 4, arbitrary: fc.constant('user') },
    { weight: 3, arbitrary: fc.constant('admin') },
    { weight: 1, arbitrary: printable },
    { weight: 1, arbitrary: fc.constantFrom('Bearer ', 'Bearer sk-nope', 'Basic abc') },
  ),
  { nil: undefined, freq: 10 },
);
const headers = fc.record(
  {
    authorization,
    'content-type': contentType,
    prefer: fc.option(fc.oneof(fc.constant('respond-async'), printable), { nil: undefined }),
    'last-event-id': fc.option(printable, { nil: undefined }),
    accept: fc.option(fc.oneof(fc.constantFrom('text/event-stream', 'application/json', '*/*'), printable), { nil: undefined }),
  },
  { requiredKeys: [] },
);
/** Ids as clients send them (encoded) and as attackers do (raw percent junk, traversal). */
const id = fc.oneof(
  anyText.map(encodeURIComponent),
  fc.constantFrom('%', '%E0%A4%A', '..', '%2e%2e', 'file-abc', 'batch_x', 'req_0', '%00', 'a%0D%0Ab'),
);
const isoDate = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
const query = fc.record(
  {
    from: fc.oneof(anyText, isoDate),
    to: fc.oneof(anyText, isoDate),
    group_by: fc.oneof(fc.constantFrom('day', 'model'), anyText),
    limit: anyText,
    after: anyText,
  },
  { requiredKeys: [] },
);

interface Family {
  name: string;
  routes: Array<{ method: string; path: (id: string) => string; body?: boolean }>;
}

const FAMILIES: Family[] = [
  { name: 'chat', routes: [{ method: 'POST', path: () => '/v1/chat/completions', body: true }] },
  { name: 'embeddings', routes: [{ method: 'POST', path: () => '/v1/embeddings', body: true }] },
  {
    name: 'files',
    routes: [
      { method: 'POST', path: () => '/v1/files', body: true },
      { method: 'GET', path: () => '/v1/files' },
      { method: 'GET', path: (i) => `/v1/files/${i}` },
      { method: 'GET', path: (i) => `/v1/files/${i}/content` },
      { method: 'DELETE', path: (i) => `/v1/files/${i}` },
    ],
  },
  {
    name: 'batches',
    routes: [
      { method: 'POST', path: () => '/v1/batches', body: true },
      { method: 'GET', path: () => '/v1/batches' },
      { method: 'GET', path: (i) => `/v1/batches/${i}` },
      { method: 'POST', path: (i) => `/v1/batches/${i}/cancel`, body: true },
    ],
  },
  {
    name: 'requests',
    routes: [
      { method: 'GET', path: (i) => `/v1/requests/${i}` },
      { method: 'GET', path: (i) => `/v1/requests/${i}/events` },
    ],
  },
  {
    name: 'admin',
    routes: [
      { method: 'POST', path: () => '/admin/v1/tenants', body: true },
      { method: 'GET', path: () => '/admin/v1/tenants' },
      { method: 'GET', path: (i) => `/admin/v1/tenants/${i}` },
      { method: 'PATCH', path: (i) => `/admin/v1/tenants/${i}`, body: true },
      { method: 'POST', path: (i) => `/admin/v1/tenants/${i}/keys`, body: true },
      { method: 'GET', path: (i) => `/admin/v1/tenants/${i}/keys` },
      { method: 'DELETE', path: (i) => `/admin/v1/keys/${i}` },
      { method: 'GET', path: (i) => `/admin/v1/tenants/${i}/usage` },
    ],
  },
  { name: 'usage', routes: [{ method: 'GET', path: () => '/v1/usage' }] },
  {
    // The fuzzed query is appended after `?`: a tenant_id in the path makes it part of that id.
    name: 'console',
    routes: [
      { method: 'GET', path: () => '/console/api/session' },
      { method: 'GET', path: (i) => `/console/api/keys?tenant_id=${i}` },
      { method: 'GET', path: () => '/console/api/usage' },
      { method: 'GET', path: (i) => `/console/api/usage?tenant_id=${i}&` },
      { method: 'GET', path: (i) => `/console/api/activity?minutes=${i}` },
      { method: 'GET', path: (i) => `/console/api/batches?tenant_id=${i}` },
      { method: 'GET', path: (i) => `/console/assets/${i}` },
    ],
  },
  { name: 'models', routes: [{ method: 'GET', path: () => '/v1/models' }] },
  { name: 'unknown', routes: [{ method: 'PUT', path: (i) => `/v1/${i}`, body: true }] },
];

// ---- checks ----

function checkAnswer(what: string, status: number, text: string, requestId: string | null): void {
  expect(status, `${what} -> ${status} ${text.slice(0, 300)}`).toBeLessThan(500);
  expect(text, what).not.toMatch(/\n\s+at \S/);
  expect(requestId, `${what}: x-request-id`).toMatch(/^req_/);
  if (status < 400) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${what} -> ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  const e = (parsed as { error?: Record<string, unknown> }).error;
  expect(Object.keys(parsed as object), `${what}: ${text.slice(0, 200)}`).toEqual(['error']);
  expect(typeof e?.message, what).toBe('string');
  expect(typeof e?.type, what).toBe('string');
  expect(e?.param === null || typeof e?.param === 'string', what).toBe(true);
  expect(e?.code === null || typeof e?.code === 'string', what).toBe(true);
}

function resolveAuth(value: string | undefined): string | undefined {
  if (value === 'user') return `Bearer ${stack.apiKey}`;
  if (value === 'admin') return `Bearer ${ADMIN}`;
  return value;
}

describe('fuzzed requests get a 2xx or an OpenAI 4xx envelope', () => {
  for (const family of FAMILIES) {
    it(
      family.name,
      async () => {
        const statuses = new Set<number>();
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...family.routes),
            id,
            headers,
            body,
            fc.option(query, { freq: 1 }),
            async (route, rid, hdrs, payload, q) => {
              const h: Record<string, string> = {};
              for (const [k, v] of Object.entries({ ...hdrs, authorization: resolveAuth(hdrs.authorization) }))
                if (v !== undefined) h[k] = v;
              const qs = new URLSearchParams(Object.entries(q ?? {}).filter((e): e is [string, string] => e[1] !== undefined)).toString();
              const path = route.path(rid) + (qs ? `?${qs}` : '');
              const res = await fetch(`${stack.url}${path}`, {
                method: route.method,
                headers: h,
                body: route.body ? payload : undefined,
                signal: AbortSignal.timeout(20_000),
              });
              const text = await res.text();
              statuses.add(res.status);
              checkAnswer(
                `${route.method} ${path} ${JSON.stringify(h)} ${payload.slice(0, 200)}`,
                res.status,
                text,
                res.headers.get('x-request-id'),
              );
            },
          ),
          { seed: SEED, numRuns: RUNS_PER_FAMILY, endOnFailure: true },
        );
        // The inputs get past the first check: more than one kind of answer came back.
        expect(statuses.size, family.name).toBeGreaterThan(1);
      },
      120_000,
    );
  }

  it('ws upgrade', async () => {
    const { port } = new URL(stack.url);
    const upgradeHeaders = fc.record(
      {
        authorization,
        'sec-websocket-key': fc.option(fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), printable), { nil: undefined }),
        'sec-websocket-version': fc.option(fc.oneof(fc.constantFrom('13', '8'), printable), { nil: undefined }),
        'sec-websocket-protocol': fc.option(printable, { nil: undefined }),
        upgrade: fc.option(fc.constantFrom('websocket', 'h2c', 'WebSocket'), { nil: undefined }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(upgradeHeaders, async (hdrs) => {
        const lines = ['GET /v1/ws HTTP/1.1', 'Host: 127.0.0.1'];
        for (const [k, v] of Object.entries({ ...hdrs, authorization: resolveAuth(hdrs.authorization) }))
          if (v !== undefined && !/[\r\n]/.test(v)) lines.push(`${k}: ${v}`);
        if (hdrs.upgrade) lines.push('Connection: Upgrade');
        const answer = await new Promise<string>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1', () => socket.write(lines.join('\r\n') + '\r\n\r\n'));
          let data = '';
          socket.setTimeout(5_000, () => socket.destroy());
          socket.on('data', (d) => {
            data += d;
            // A successful upgrade stays open: the status line is all we need.
            if (data.startsWith('HTTP/1.1 101')) socket.destroy();
            const head = data.indexOf('\r\n\r\n');
            const len = /content-length: (\d+)/i.exec(data)?.[1];
            if (head !== -1 && len !== undefined && data.length >= head + 4 + Number(len)) socket.destroy();
          });
          socket.on('error', reject);
          socket.on('close', () => resolve(data));
        });
        const status = Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
        if (status === 101) return;
        const [head, ...rest] = answer.split('\r\n\r\n');
        checkAnswer(`ws ${JSON.stringify(hdrs)}`, status, rest.join('\r\n\r\n'), /x-request-id: (\S+)/i.exec(head ?? '')?.[1] ?? null);
      }),
      { seed: SEED, numRuns: RUNS_PER_FAMILY, endOnFailure: true },
    );
  }, 120_000);

  it('the server still serves a good request afterwards', async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still up?' }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { object: string }).object).toBe('chat.completion');
  });
});
