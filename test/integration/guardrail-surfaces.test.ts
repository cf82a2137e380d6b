// Content guardrails on the HTTP surfaces other than chat completions: /v1/responses, /v1/completions,
// /v1/messages (translated for openai/*, native for anthropic/*) and /v1/embeddings. Same stack and
// mock upstream as content-guardrails.test.ts; guardrails are attached per key, so each test picks its own.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

const ADMIN = 'admin-test-key-guardrail-surfaces';
let stack: Stack;
let hook: Server;
let hookInputs: unknown[] = [];

/** A webhook that blocks when `HOOK_BLOCK` is anywhere in what it was sent. */
function startWebhook(): Promise<Server> {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      hookInputs.push((JSON.parse(raw) as { input?: unknown }).input);
      const answer = raw.includes('HOOK_BLOCK') ? { action: 'block', reason: 'policy 7 forbids this' } : { action: 'allow' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  hook = await startWebhook();
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/check`;
  const yaml = [
    'guardrails:',
    '  - {name: no-falcon, kind: blocklist, mode: [pre_call, post_call], keywords: [project falcon]}',
    '  - {name: pii, kind: pii, mode: [pre_call, post_call], on_fail: mask}',
    '  - {name: falcon-in, kind: blocklist, mode: pre_call, keywords: [project falcon]}',
    '  - {name: pii-in, kind: pii, mode: pre_call, on_fail: mask}',
    '  - {name: no-shell, kind: tools, mode: pre_call, deny: [shell]}',
    `  - {name: hook, kind: webhook, mode: pre_call, url: '${hookUrl}', timeout_ms: 1000, on_error: closed}`,
    `  - {name: hook-during, kind: webhook, mode: during_call, url: '${hookUrl}', timeout_ms: 1000, on_error: closed}`,
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'sy-guardrail-surfaces-'));
  writeFileSync(join(dir, 'switchyard.yaml'), yaml);
  stack = await startStack({
    env: { SWITCHYARD_CONFIG: join(dir, 'switchyard.yaml'), ADMIN_API_KEY: ADMIN, WORKER_MAX_RETRIES: '0' },
    providerEnv: (mock) => ({ ANTHROPIC_BASE_URL: `${mock}/anthropic`, ANTHROPIC_API_KEY: 'sk-ant-upstream' }),
  });
});
afterAll(async () => {
  await stack?.close();
  hook?.close();
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function post(path: string, key: string, body: unknown) {
  const res = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const json = <T>(r: { text: string }) => JSON.parse(r.text) as T;

/** A prompt whose last line scripts the mock's reply; `\u` escapes keep the reply's text out of the prompt. */
const scripted = (jsonScript: string, prefix = 'hello') => `${prefix}\nmock:${jsonScript}`;

function lastUpstream(pathEnd: string): Record<string, unknown> {
  const r = stack.mock.requests.filter((x) => x.path.endsWith(pathEnd)).at(-1);
  if (!r) throw new Error(`no upstream request to ${pathEnd}`);
  return r.body as Record<string, unknown>;
}

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const keys = new Map<string, string>();
/** A key of its own tenant with `guardrails` attached (one per combination). */
async function keyWith(...guardrails: string[]): Promise<string> {
  const name = guardrails.join(',');
  if (keys.has(name)) return keys.get(name)!;
  const tenant = await admin('POST', '/tenants', { name: `t-${guardrails.join('-')}` });
  const key = await admin('POST', `/tenants/${String(tenant.body.id)}/keys`, {});
  expect((await admin('PUT', `/keys/${String(key.body.id)}/guardrails`, { guardrails })).status).toBe(200);
  keys.set(name, String(key.body.key));
  return String(key.body.key);
}

/** The 400 every surface answers for a pre_call block, recorded as `blocked` without an upstream call. */
async function expectBlocked(
  r: { status: number; headers: Headers; text: string },
  before: number,
  names: string,
  guardrail = 'no-falcon',
) {
  expect(r.status).toBe(400);
  expect(json<ErrorBody>(r).error).toMatchObject({ type: 'invalid_request_error', code: 'guardrail_blocked' });
  expect(json<ErrorBody>(r).error.message).toContain(`'${guardrail}'`);
  expect(r.headers.get('x-switchyard-guardrails')).toBe(names);
  expect(stack.mock.stats.requests).toBe(before);
  const row = await waitForUsageRow(stack.db, r.headers.get('x-request-id')!);
  expect(row).toMatchObject({ status: 'blocked', error_code: 'guardrail_blocked', attempts: 0 });
}

/** What the client saw of an SSE answer: the text of every `data:` frame, joined. */
const sseData = (raw: string) =>
  raw
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6))
    .join('\n');

describe('POST /v1/responses', () => {
  const create = (key: string, input: string, extra: object = {}) =>
    post('/v1/responses', key, { model: 'openai/gpt-4o-mini', input, store: false, ...extra });

  it('pre_call: blocked text is a 400 guardrail_blocked naming the guardrail, recorded as blocked', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const before = stack.mock.stats.requests;
    await expectBlocked(await create(key, 'all about project falcon'), before, 'no-falcon,pii');
  });

  it('pre_call: an email reaches the upstream masked (instructions too)', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const r = await create(key, 'I am ada@example.com', { instructions: 'Operator: bob@example.org' });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    const sent = lastUpstream('/chat/completions').messages as Array<{ content: string }>;
    expect(sent.map((m) => m.content)).toEqual(['Operator: [EMAIL]', 'I am [EMAIL]']);
  });

  it('post_call: a blocked phrase in the answer is a 400 guardrail_blocked; PII in a streamed answer is masked', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const blocked = await create(key, scripted('{"text":"The answer is project f\\u0061lcon."}'));
    expect(blocked.status).toBe(400);
    expect(json<ErrorBody>(blocked).error).toMatchObject({ code: 'guardrail_blocked' });
    expect(json<ErrorBody>(blocked).error.message).toContain("'no-falcon'");

    const streamed = await create(key, scripted('{"text":"write to eve\\u0040example.net today","itl_ms":5}'), { stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    expect(streamed.text).not.toContain('eve@');
    expect(streamed.text).toContain('write to [EMAIL] today');
  });

  it('post_call: a blocked phrase mid-stream ends the stream with response.failed (guardrail_blocked), never the phrase', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const r = await create(
      key,
      // Longer than the PII window (64) plus the keyword: text is out before the phrase arrives.
      scripted(
        '{"text":"Here is a long and harmless opening sentence, long enough that the window has released it to the client before anything else. Then project f\\u0061lcon was mentioned.","itl_ms":5}',
      ),
      { stream: true },
    );
    expect(r.status).toBe(200);
    expect(r.text).toContain('Here is a long');
    expect(r.text.toLowerCase()).not.toContain('falcon was');
    const failed = r.text.split('\n\n').find((f) => f.includes('event: response.failed'));
    expect(failed).toBeDefined();
    expect(failed).toContain('"code":"guardrail_blocked"');
    const row = await waitForUsageRow(stack.db, r.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'error', error_code: 'guardrail_blocked' });
  });
});

describe('POST /v1/completions', () => {
  const create = (key: string, prompt: string | string[], extra: object = {}) =>
    post('/v1/completions', key, { model: 'openai/gpt-4o-mini', prompt, max_tokens: 50, ...extra });

  it('pre_call: a blocked prompt (of several) is a 400 guardrail_blocked before any is queued', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const before = stack.mock.stats.requests;
    const r = await create(key, ['a harmless prompt', 'tell me about project falcon']);
    expect(r.status).toBe(400);
    expect(json<ErrorBody>(r).error).toMatchObject({ code: 'guardrail_blocked' });
    expect(json<ErrorBody>(r).error.message).toContain("'no-falcon'");
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    expect(stack.mock.stats.requests).toBe(before);
    // Recorded under the id of the prompt that was refused.
    const row = await waitForUsageRow(stack.db, `${r.headers.get('x-request-id')!}_1`);
    expect(row).toMatchObject({ status: 'blocked', error_code: 'guardrail_blocked' });
  });

  it('pre_call: an email in each prompt reaches the upstream masked', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const r = await create(key, ['mail ada@example.com', 'or bob@example.org']);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    const prompts = stack.mock.requests
      .filter((x) => x.path.endsWith('/chat/completions'))
      .slice(-2)
      .map((x) => (x.body as { messages: Array<{ content: string }> }).messages[0]!.content);
    expect(prompts.sort()).toEqual(['mail [EMAIL]', 'or [EMAIL]']);
  });

  it('post_call: a blocked phrase in the answer is a 400; PII in a streamed answer is masked', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const blocked = await create(key, scripted('{"text":"The answer is project f\\u0061lcon."}'));
    expect(blocked.status).toBe(400);
    expect(json<ErrorBody>(blocked).error).toMatchObject({ code: 'guardrail_blocked' });
    expect(json<ErrorBody>(blocked).error.message).toContain("'no-falcon'");

    const streamed = await create(key, scripted('{"text":"write to eve\\u0040example.net today","itl_ms":5}'), { stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    const text = sseData(streamed.text)
      .split('\n')
      .filter((d) => d !== '[DONE]')
      .map((d) => (JSON.parse(d) as { choices: Array<{ text: string }> }).choices[0]?.text ?? '')
      .join('');
    expect(text).toBe('write to [EMAIL] today');
  });
});

describe('POST /v1/messages', () => {
  const create = (key: string, model: string, body: object) =>
    post('/v1/messages', key, { model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...body });
  interface AnthropicError {
    type: 'error';
    error: { type: string; message: string };
  }

  it('translated (openai/*): a blocked system prompt is a 400 in the Anthropic envelope naming the guardrail', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const before = stack.mock.stats.requests;
    const r = await create(key, 'openai/gpt-4o-mini', { system: [{ type: 'text', text: 'Context: project falcon' }] });
    expect(r.status).toBe(400);
    const body = json<AnthropicError>(r);
    expect(body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(body.error.message).toContain("blocked by guardrail 'no-falcon'");
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    expect(stack.mock.stats.requests).toBe(before);
    const row = await waitForUsageRow(stack.db, r.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'blocked', error_code: 'guardrail_blocked' });
  });

  it('translated (openai/*): emails in system and a tool_result reach the upstream masked; the answer is checked', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const r = await create(key, 'openai/gpt-4o-mini', {
      system: 'Operator ada@example.com',
      tools: [{ name: 'lookup', input_schema: { type: 'object' } }],
      messages: [
        { role: 'user', content: 'who?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'tu_1', name: 'lookup', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'tu_1', content: [{ type: 'text', text: 'found bob@example.org' }] },
            { type: 'text', text: scripted('{"text":"mail eve\\u0040example.net"}', 'and?') },
          ],
        },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    const sent = JSON.stringify(lastUpstream('/chat/completions'));
    expect(sent).toContain('Operator [EMAIL]');
    expect(sent).toContain('found [EMAIL]');
    expect(sent).not.toMatch(/ada@|bob@/);
    // post_call on the translated answer.
    expect(json<{ content: Array<{ text: string }> }>(r).content[0]!.text).toBe('mail [EMAIL]');
  });

  it('native (anthropic/*): pre_call masks and blocks what goes upstream as sent', async () => {
    const key = await keyWith('falcon-in', 'pii-in', 'no-shell');
    const ok = await create(key, 'anthropic/claude-sonnet-4-5', {
      system: 'Operator ada@example.com',
      messages: [
        { role: 'user', content: 'who?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'tu_1', name: 'lookup', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'found bob@example.org' }] },
      ],
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers.get('x-switchyard-guardrails')).toBe('falcon-in,pii-in,no-shell');
    const sent = lastUpstream('/anthropic/v1/messages');
    expect(sent.system).toBe('Operator [EMAIL]');
    expect(JSON.stringify(sent.messages)).toContain('found [EMAIL]');

    const before = stack.mock.stats.requests;
    const blocked = await create(key, 'anthropic/claude-sonnet-4-5', { messages: [{ role: 'user', content: 'project falcon?' }] });
    expect(blocked.status).toBe(400);
    expect(json<AnthropicError>(blocked).error.message).toContain("'falcon-in'");
    const shell = await create(key, 'anthropic/claude-sonnet-4-5', { tools: [{ name: 'shell', input_schema: { type: 'object' } }] });
    expect(shell.status).toBe(400);
    expect(json<AnthropicError>(shell).error.message).toContain("tool 'shell' is not allowed");
    expect(stack.mock.stats.requests).toBe(before);
  });

  it('native (anthropic/*) with during_call only: the native stream comes through intact; a refusal is a 400', async () => {
    const key = await keyWith('hook-during');
    const ok = await create(key, 'anthropic/claude-sonnet-4-5', { stream: true });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers.get('x-switchyard-guardrails')).toBe('hook-during');
    const events = [...ok.text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]!);
    expect(events[0]).toBe('message_start');
    expect(events).toContain('content_block_delta');
    expect(events.at(-1)).toBe('message_stop');
    const blocked = await create(key, 'anthropic/claude-sonnet-4-5', { stream: true, messages: [{ role: 'user', content: 'HOOK_BLOCK' }] });
    expect(blocked.status).toBe(400);
    expect(json<AnthropicError>(blocked).error.message).toContain("'hook-during'");
  });

  it('native (anthropic/*) with a post_call guardrail attached: refused (fail closed), never relayed unchecked', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const before = stack.mock.stats.requests;
    for (const stream of [false, true]) {
      const r = await create(key, 'anthropic/claude-sonnet-4-5', { stream });
      expect(r.status).toBe(400);
      const body = json<AnthropicError>(r);
      expect(body.error.type).toBe('invalid_request_error');
      expect(body.error.message).toContain("Guardrail 'no-falcon' checks answers (post_call)");
      expect(body.error.message).toContain('POST /v1/messages for anthropic/* models');
      expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
      const row = await waitForUsageRow(stack.db, r.headers.get('x-request-id')!);
      expect(row).toMatchObject({ status: 'blocked', error_code: 'guardrail_not_applicable' });
    }
    expect(stack.mock.stats.requests).toBe(before);
  });
});

describe('POST /v1/messages/count_tokens (anthropic/*: the text goes upstream from the ingress)', () => {
  it('pre_call masks what is sent to be counted and blocks', async () => {
    const key = await keyWith('falcon-in', 'pii-in', 'no-shell');
    const count = (content: string) =>
      post('/v1/messages/count_tokens', key, { model: 'anthropic/claude-sonnet-4-5', messages: [{ role: 'user', content }] });
    const ok = await count('I am ada@example.com');
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers.get('x-switchyard-guardrails')).toBe('falcon-in,pii-in,no-shell');
    expect(lastUpstream('/count_tokens').messages).toEqual([{ role: 'user', content: 'I am [EMAIL]' }]);
    const before = stack.mock.stats.requests;
    const blocked = await count('project falcon');
    expect(blocked.status).toBe(400);
    expect((JSON.parse(blocked.text) as { error: { message: string } }).error.message).toContain("'falcon-in'");
    expect(stack.mock.stats.requests).toBe(before);
  });
});

describe('POST /v1/embeddings', () => {
  const create = (key: string, input: unknown) => post('/v1/embeddings', key, { model: 'openai/text-embedding-3-small', input });

  it('pre_call: blocked input is a 400 guardrail_blocked, recorded as blocked', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const before = stack.mock.stats.requests;
    await expectBlocked(await create(key, ['fine', 'project falcon roadmap']), before, 'no-falcon,pii');
    const row = await waitForUsageRow(stack.db, (await create(key, 'project falcon')).headers.get('x-request-id')!);
    expect(row).toMatchObject({ kind: 'embeddings' });
  });

  it('pre_call: emails in the input reach the upstream masked; token ids pass as they are', async () => {
    const key = await keyWith('no-falcon', 'pii');
    const r = await create(key, ['ada@example.com', 'plain']);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    expect(lastUpstream('/embeddings').input).toEqual(['[EMAIL]', 'plain']);
    expect((await create(key, [1, 2, 3])).status).toBe(200);
    expect(lastUpstream('/embeddings').input).toEqual([1, 2, 3]);
  });

  it('a webhook guardrail reads the input', async () => {
    const key = await keyWith('hook');
    hookInputs = [];
    expect((await create(key, 'fine text')).status).toBe(200);
    expect(hookInputs).toEqual(['fine text']);
    const blocked = await create(key, 'HOOK_BLOCK this');
    expect(blocked.status).toBe(400);
    expect(json<ErrorBody>(blocked).error.message).toBe("The request was blocked by guardrail 'hook': policy 7 forbids this.");
  });
});
