// Content guardrails through HTTP on a real stack (nats-server, Postgres or PGlite, ingress, worker,
// ledger): a blocklist, a PII masker and webhook guardrails from the config file, attached globally
// and per key through the admin API. The upstream is the mock provider (scripted per request); the
// webhook is a local HTTP server that allows, blocks, masks, stalls, fails and answers garbage.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchyardWsClient, WsRequestError } from '../../shared/client/ws-client.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

const ADMIN = 'admin-test-key-guardrails';
let stack: Stack;
let hook: Server;
let hookCalls: Array<{ phase: string; guardrail: string }> = [];

/** The webhook: decides by a marker in the last message. */
function startWebhook(): Promise<Server> {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const payload = JSON.parse(raw) as { guardrail: string; phase: string; messages: Array<{ content: string }> };
      hookCalls.push({ phase: payload.phase, guardrail: payload.guardrail });
      const text = String(payload.messages.at(-1)?.content ?? '');
      const answer = (status: number, body: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      if (text.includes('HOOK_BLOCK')) return answer(200, JSON.stringify({ action: 'block', reason: 'policy 7 forbids this' }));
      if (text.includes('HOOK_MASK'))
        return answer(
          200,
          JSON.stringify({ action: 'mask', messages: [{ role: 'user', content: text.replace(/codeword \w+/, 'codeword [HIDDEN]') }] }),
        );
      if (text.includes('HOOK_SLOW')) return void setTimeout(() => answer(200, '{"action":"allow"}'), 1_500);
      if (text.includes('HOOK_500')) return answer(500, '{"oops":true}');
      if (text.includes('HOOK_GARBAGE')) return answer(200, '<html>not json</html>');
      answer(200, JSON.stringify({ action: 'allow' }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  hook = await startWebhook();
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/check`;
  const deadUrl = `http://127.0.0.1:${await freePort()}/check`; // nothing listens: connection refused
  const webhook = (name: string, url: string, onError: string, mode = 'pre_call') =>
    `  - {name: ${name}, kind: webhook, mode: ${mode}, url: '${url}', timeout_ms: 300, on_error: ${onError}}`;
  const yaml = [
    'guardrails:',
    '  - {name: no-falcon, kind: blocklist, mode: [pre_call, post_call], keywords: [project falcon]}',
    '  - {name: pii, kind: pii, mode: [pre_call, post_call], on_fail: mask}',
    webhook('hook-open', hookUrl, 'open'),
    webhook('hook-closed', hookUrl, 'closed'),
    webhook('hook-down-open', deadUrl, 'open'),
    webhook('hook-down-closed', deadUrl, 'closed'),
    webhook('hook-during', hookUrl, 'closed', 'during_call'),
    'default_guardrails: [no-falcon, pii]',
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'sy-guardrails-'));
  writeFileSync(join(dir, 'switchyard.yaml'), yaml);
  stack = await startStack({ env: { SWITCHYARD_CONFIG: join(dir, 'switchyard.yaml'), ADMIN_API_KEY: ADMIN } });
});
afterAll(async () => {
  await stack?.close();
  hook?.close();
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function chat(content: string, opts: { key?: string; stream?: boolean } = {}) {
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.key ?? stack.apiKey}` },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', stream: opts.stream ?? false, messages: [{ role: 'user', content }] }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A prompt whose last line scripts the mock's reply; `\u` escapes keep the reply's secrets out of the prompt. */
const scripted = (jsonScript: string, prefix = 'hello') => `${prefix}\nmock:${jsonScript}`;

/** The SSE frames of a stream: the text the client saw, the finish reasons, and the error event. */
function parseSse(raw: string) {
  let content = '';
  const finish: string[] = [];
  let error: ErrorBody | null = null;
  for (const frame of raw.split('\n\n')) {
    const data = frame
      .split('\n')
      .find((l) => l.startsWith('data: '))
      ?.slice(6);
    if (!data || data === '[DONE]') continue;
    const json = JSON.parse(data) as ErrorBody & { choices?: Array<{ delta?: { content?: string }; finish_reason: string | null }> };
    if (frame.includes('event: error')) error = json;
    for (const c of json.choices ?? []) {
      content += c.delta?.content ?? '';
      if (c.finish_reason) finish.push(c.finish_reason);
    }
  }
  return { content, finish, error };
}

async function lastUpstreamPrompt(): Promise<string> {
  const reqs = stack.mock.requests as Array<{ body: unknown }>;
  const body = reqs.at(-1)!.body as { messages: Array<{ content: string }> };
  return body.messages.at(-1)!.content;
}

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A fresh key of a fresh tenant with `guardrails` attached to the key. */
async function keyWith(guardrails: string[]): Promise<string> {
  const tenant = await admin('POST', '/tenants', { name: `t-${guardrails.join('-')}` });
  const key = await admin('POST', `/tenants/${String(tenant.body.id)}/keys`, {});
  const attached = await admin('PUT', `/keys/${String(key.body.id)}/guardrails`, { guardrails });
  expect(attached.status).toBe(200);
  expect(attached.body.guardrails).toEqual(guardrails);
  return String(key.body.key);
}

describe('pre_call', () => {
  it('a blocked request is a 400 guardrail_blocked naming the guardrail, billed as blocked with zero cost', async () => {
    const before = stack.mock.stats.requests;
    const r = await chat('Tell me everything about Project  Falcon please'.replace('  ', ' '));
    expect(r.status).toBe(400);
    const body = JSON.parse(r.text) as ErrorBody;
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'guardrail_blocked', param: null });
    expect(body.error.message).toContain("'no-falcon'");
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    expect(stack.mock.stats.requests).toBe(before); // never reached the upstream
    const row = await waitForUsageRow(stack.db, r.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'blocked', error_code: 'guardrail_blocked', input_tokens: 0, output_tokens: 0, attempts: 0 });
    expect(Number(row.cost_usd)).toBe(0);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_guardrail_results_total\{guardrail="no-falcon",mode="pre_call",outcome="block"\} [1-9]/);
  });

  it('masked PII never reaches the upstream', async () => {
    const r = await chat('My mail is ada.lovelace@example.com and my card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00.');
    expect(r.status).toBe(200);
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    const seen = await lastUpstreamPrompt();
    expect(seen).toBe('My mail is [EMAIL] and my card [CREDIT_CARD], IBAN [IBAN].');
  });
});

describe('post_call', () => {
  it('masks PII in a non-streamed answer', async () => {
    const r = await chat(scripted('{"text":"Reach me at bob\\u0040example.org or 4111\\u00201111\\u00201111\\u00201111."}'));
    expect(r.status).toBe(200);
    const content = (JSON.parse(r.text) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
    expect(content).toBe('Reach me at [EMAIL] or [CREDIT_CARD].');
  });

  it('masks a card number split across stream chunks; no piece of it reaches the client', async () => {
    const r = await chat(
      scripted('{"text":"Your card on file is 4111\\u00201111\\u00201111\\u00201111 and that is all I can say today.","itl_ms":15}'),
      { stream: true },
    );
    expect(r.status).toBe(200);
    expect(r.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii');
    const sse = parseSse(r.text);
    expect(sse.content).toBe('Your card on file is [CREDIT_CARD] and that is all I can say today.');
    expect(r.text).not.toContain('1111');
    expect(sse.finish).toEqual(['stop']);
    // It really was split upstream: one token per SSE event.
    const upstreamTokens = 'Your card on file is 4111 1111 1111 1111'.split(' ').length;
    expect(upstreamTokens).toBeGreaterThan(4);
  });

  it('a blocked phrase mid-stream ends the stream with content_filter and an error event, never the phrase', async () => {
    const r = await chat(
      // Longer than the PII window (64) plus the keyword (14): the stream is under way before the phrase.
      scripted(
        '{"text":"Here is a long and harmless opening sentence, long enough that the window has released it to the client before anything else. Then project f\\u0061lcon was mentioned and more text follows.","itl_ms":10}',
      ),
      { stream: true },
    );
    expect(r.status).toBe(200);
    const sse = parseSse(r.text);
    expect(sse.content).toContain('Here is a long');
    expect(sse.content.toLowerCase()).not.toContain('falcon');
    expect(sse.content.toLowerCase()).not.toContain('project');
    expect(sse.finish).toEqual(['content_filter']);
    expect(sse.error?.error).toMatchObject({ code: 'guardrail_blocked', type: 'invalid_request_error' });
    expect(sse.error?.error.message).toContain("'no-falcon'");
    const row = await waitForUsageRow(stack.db, r.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'error', error_code: 'guardrail_blocked' });
  });

  it('a non-streamed answer with a blocked phrase is a 400 guardrail_blocked', async () => {
    const r = await chat(scripted('{"text":"The answer is project f\\u0061lcon."}'));
    expect(r.status).toBe(400);
    expect((JSON.parse(r.text) as ErrorBody).error).toMatchObject({ code: 'guardrail_blocked' });
  });
});

describe('async requests (Prefer: respond-async)', () => {
  it('pre_call masks what is queued and post_call masks the stored result', async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async', authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: scripted('{"text":"write to eve\\u0040example.net"}', 'I am ada@example.com') }],
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = await waitFor(async () => {
      const r = (await (
        await fetch(`${stack.url}/v1/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
      ).json()) as {
        status: string;
        response: { body: { choices: Array<{ message: { content: string } }> } };
      };
      return r.status === 'completed' ? r : undefined;
    });
    expect(done.response.body.choices[0]!.message.content).toBe('write to [EMAIL]');
    expect((await lastUpstreamPrompt()).startsWith('I am [EMAIL]\n')).toBe(true);
  });
});

describe('webhook guardrails', () => {
  it('allow, block, mask', async () => {
    const key = await keyWith(['hook-closed']);
    hookCalls = [];
    const ok = await chat('a plain question', { key });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-switchyard-guardrails')).toBe('no-falcon,pii,hook-closed');
    expect(hookCalls).toEqual([{ phase: 'pre_call', guardrail: 'hook-closed' }]);

    const blocked = await chat('HOOK_BLOCK please', { key });
    expect(blocked.status).toBe(400);
    expect((JSON.parse(blocked.text) as ErrorBody).error.message).toBe(
      "The request was blocked by guardrail 'hook-closed': policy 7 forbids this.",
    );

    const masked = await chat('HOOK_MASK the codeword swordfish', { key });
    expect(masked.status).toBe(200);
    expect(await lastUpstreamPrompt()).toBe('HOOK_MASK the codeword [HIDDEN]');
  });

  it.each([
    ['HOOK_SLOW', 'timeout'],
    ['HOOK_500', 'HTTP 500'],
    ['HOOK_GARBAGE', 'garbage'],
  ])('%s: on_error open lets the request pass, closed refuses it with 503 guardrail_unavailable', async (marker) => {
    const open = await keyWith(['hook-open']);
    const closed = await keyWith(['hook-closed']);
    const t0 = Date.now();
    const passed = await chat(`${marker} question`, { key: open });
    expect(passed.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(1_400); // the 300 ms timeout, not the webhook's 1.5 s
    const refused = await chat(`${marker} question`, { key: closed });
    expect(refused.status).toBe(503);
    expect((JSON.parse(refused.text) as ErrorBody).error).toMatchObject({ type: 'server_error', code: 'guardrail_unavailable' });
    expect((JSON.parse(refused.text) as ErrorBody).error.message).toContain("'hook-closed'");
    const row = await waitForUsageRow(stack.db, refused.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'blocked', error_code: 'guardrail_unavailable' });
  });

  it('webhook down (connection refused): open passes, closed refuses', async () => {
    expect((await chat('hi', { key: await keyWith(['hook-down-open']) })).status).toBe(200);
    const refused = await chat('hi', { key: await keyWith(['hook-down-closed']) });
    expect(refused.status).toBe(503);
    expect((JSON.parse(refused.text) as ErrorBody).error.message).toMatch(/unreachable/);
  });

  it('during_call runs beside the upstream call and holds the answer until it passes', async () => {
    const key = await keyWith(['hook-during']);
    const ok = await chat('fine question', { key, stream: true });
    expect(parseSse(ok.text).finish).toEqual(['stop']);
    const before = stack.mock.stats.requests;
    const blocked = await chat('HOOK_BLOCK question', { key, stream: true });
    expect(stack.mock.stats.requests).toBe(before + 1); // the upstream was called in parallel
    expect(blocked.status).toBe(400); // nothing had been sent: a plain HTTP error
    expect((JSON.parse(blocked.text) as ErrorBody).error).toMatchObject({ code: 'guardrail_blocked' });
  });
});

describe('WebSocket', () => {
  it('pre_call blocks and masks, post_call masks the streamed answer, as over HTTP', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    try {
      const req = (content: string) => ({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user' as const, content }] });
      const blocked = await ws.chat(req('what is project falcon?')).result.catch((e: unknown) => e);
      expect(blocked).toBeInstanceOf(WsRequestError);
      expect((blocked as WsRequestError).frame.error).toMatchObject({ code: 'guardrail_blocked' });

      await ws.chat(req('mail me at ada@example.com')).result;
      expect(await lastUpstreamPrompt()).toBe('mail me at [EMAIL]');

      const masked = await ws.chat(req(scripted('{"text":"card 4111\\u00201111\\u00201111\\u00201111 ok","itl_ms":10}'))).result;
      expect(masked.content).toBe('card [CREDIT_CARD] ok');
    } finally {
      ws.close();
    }
  });
});

describe('admin API', () => {
  it('lists definitions and refuses unknown names', async () => {
    const list = await admin('GET', '/guardrails');
    expect(list.body.default_guardrails).toEqual(['no-falcon', 'pii']);
    expect((list.body.data as Array<{ name: string }>).map((g) => g.name)).toContain('hook-open');
    const tenant = await admin('POST', '/tenants', { name: 'attach' });
    const bad = await admin('PUT', `/tenants/${String(tenant.body.id)}/guardrails`, { guardrails: ['pii', 'nope'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: 'guardrails[1]', code: 'unknown_guardrail' });
    const good = await admin('PUT', `/tenants/${String(tenant.body.id)}/guardrails`, { guardrails: ['hook-open'] });
    expect(good.body).toMatchObject({ object: 'guardrail_attachment', tenant_id: tenant.body.id, guardrails: ['hook-open'] });
  });
});
