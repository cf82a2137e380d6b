// One tenant must not take a model away from the others: bodies that break on their own (100k nested
// `[`, parameters the upstream refuses) fail for their sender with a 400 and never count toward the
// shared circuit breaker, retries or fallbacks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort } from '../harness/ports.ts';
import { buildIngress, type Ingress } from '../../services/ingress/server.ts';
import { createKey, createTenant } from '../../shared/db/tenants.ts';
import { exceedsJsonDepth } from '../../shared/protocol/json-depth.ts';
import { SwitchyardWsClient } from '../../shared/client/ws-client.ts';

const MODEL = 'openai/gpt-4o-mini';
const DEEP = 100_000;
const deepBody = () => `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`;
// V8 13 (Node 24) overflows its stack serialising 100k levels, so the worker's adapter throws; V8 14
// (Node 26) serialises any depth, so the body reaches the upstream (a real one refuses it with a 400).
const engineSerialisesDeep = (() => {
  try {
    JSON.stringify(JSON.parse(deepBody()));
    return true;
  } catch {
    return false;
  }
})();

let stack: Stack;
let victimKey: string;
// A second ingress with the depth limit switched off: stands for any path on which a deep body
// still reaches a worker (an older ingress, a batch line), so the worker's own classification is tested.
let laxIngress: Ingress;
let laxUrl: string;

beforeAll(async () => {
  stack = await startStack({ env: { BREAKER_FAILURES: '2', BREAKER_COOLDOWN_MS: '10000', MAX_JSON_DEPTH: '64' } });
  const tenant = await createTenant(stack.db, { name: 'victim' });
  victimKey = (await createKey(stack.db, tenant.id, { name: 'victim' }))!.key;
  laxIngress = await buildIngress({
    config: { ...stack.runtime.config, MAX_JSON_DEPTH: 10 * DEEP },
    nats: stack.runtime.nats,
    db: stack.db,
    log: stack.runtime.log,
  });
  const port = await freePort();
  await laxIngress.app.listen({ port, host: '127.0.0.1' });
  laxUrl = `http://127.0.0.1:${port}`;
}, 60_000);
afterAll(async () => {
  await laxIngress?.close();
  await stack?.close();
});

async function post(url: string, key: string, body: string) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, json: (await res.json()) as { error?: { message: string; type: string; code: string | null } } };
}

const victimChat = () => post(stack.url, victimKey, JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'still here?' }] }));

async function breakerMetric(): Promise<string> {
  return (await (await fetch(`${stack.url}/metrics`)).text())
    .split('\n')
    .filter((l) => l.startsWith(`switchyard_breaker_state{target="${MODEL}"}`))
    .join('\n');
}

describe('hostile bodies fail for their sender only', () => {
  it('the ingress refuses a body nested deeper than MAX_JSON_DEPTH with a 400, before any upstream call', async () => {
    const before = stack.mock.stats.requests;
    const r = await post(stack.url, stack.apiKey, deepBody());
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'json_too_deep' });
    expect(r.json.error!.message).toContain('64');
    // 65 levels is one too many, 64 is fine (the request body object itself is level 1).
    const at = (n: number) =>
      `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(n - 1)}${']'.repeat(n - 1)}}`;
    expect((await post(stack.url, stack.apiKey, at(65))).status).toBe(400);
    expect((await post(stack.url, stack.apiKey, at(64))).status).toBe(200);
    // Brackets inside strings are text, not nesting.
    const inString = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: '['.repeat(5000) + '"\\' }] });
    expect((await post(stack.url, stack.apiKey, inString)).status).toBe(200);
    expect(stack.mock.stats.requests).toBe(before + 2);
  });

  it('deep bodies and upstream 400s from one tenant leave the model working for another, breaker closed', async () => {
    expect((await victimChat()).status).toBe(200);
    const before = stack.mock.stats.requests;
    for (let i = 0; i < 4; i++) {
      // Reaches the worker. Where its adapter cannot serialise it, that is the request's fault: a 400.
      const deep = await post(laxUrl, stack.apiKey, deepBody());
      if (engineSerialisesDeep) expect(deep.status).toBe(200);
      else {
        expect(deep.status).toBe(400);
        expect(deep.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request' });
      }
      // The upstream refuses the parameters: a 400 for this caller, not retried.
      const refused = await post(
        laxUrl,
        stack.apiKey,
        JSON.stringify({
          model: MODEL,
          messages: [{ role: 'user', content: `x\nmock:${JSON.stringify({ error: { status: 400, message: 'bad parameter' } })}` }],
        }),
      );
      expect(refused.status).toBe(400);
      const ok = await victimChat();
      expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    }
    // Each upstream 400 reached the upstream exactly once; the deep bodies only where they serialise.
    expect(stack.mock.stats.requests - before).toBe(4 + 4 + (engineSerialisesDeep ? 4 : 0));
    expect(await breakerMetric()).not.toMatch(/ 1$/m);
    expect((await victimChat()).status).toBe(200);
  });

  it('upstream outages still open the breaker (the classification did not switch it off)', async () => {
    const outage = (i: number) =>
      post(
        stack.url,
        stack.apiKey,
        JSON.stringify({
          model: MODEL,
          messages: [{ role: 'user', content: `x${i}\nmock:${JSON.stringify({ error: { status: 500 } })}` }],
        }),
      );
    await outage(1);
    await outage(2);
    expect(await breakerMetric()).toMatch(/ 1$/m);
    const r = await victimChat();
    expect(r.status).toBe(503);
    expect(r.json.error!.code).toBe('circuit_open');
  });
});

describe('exceedsJsonDepth', () => {
  const nest = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  it('counts [ and { outside strings, linearly, on bytes and strings', () => {
    expect(exceedsJsonDepth(Buffer.from(nest(64)), 64)).toBe(false);
    expect(exceedsJsonDepth(Buffer.from(nest(65)), 64)).toBe(true);
    expect(exceedsJsonDepth(`{"a":{"b":${nest(63)}}}`, 64)).toBe(true);
    expect(exceedsJsonDepth(`{"a":{"b":${nest(62)}}}`, 64)).toBe(false);
    expect(exceedsJsonDepth(Buffer.from(nest(1_000_000)), 64)).toBe(true);
  });
  it('brackets in strings do not count, escaped quotes do not end them', () => {
    expect(exceedsJsonDepth(JSON.stringify({ s: '['.repeat(500) }), 64)).toBe(false);
    expect(exceedsJsonDepth(JSON.stringify({ s: '\\"' + '['.repeat(500) }), 64)).toBe(false);
    expect(exceedsJsonDepth(JSON.stringify({ s: 'x\\' }) + nest(70), 64)).toBe(true);
    expect(exceedsJsonDepth(JSON.stringify({ s: 'снег ❄ "[[' }) + nest(70), 64)).toBe(true);
    // Unterminated string: not deep (JSON.parse refuses it anyway).
    expect(exceedsJsonDepth('{"a":"' + '['.repeat(500), 64)).toBe(false);
  });
});

describe('deep bodies are refused on the other ways in', () => {
  // Another target: the outage test above left openai/gpt-4o-mini's breaker open on purpose.
  const OTHER_MODEL = 'openai/gpt-4o';
  it('a WebSocket create message', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    try {
      ws.send({
        type: 'create',
        id: 'deep',
        body: { model: OTHER_MODEL, messages: [{ role: 'user', content: 'hi' }], x: JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`) },
      });
      const ok = ws.chat({ model: OTHER_MODEL, messages: [{ role: 'user', content: 'after' }] });
      await ok.result;
      expect(ws.socketErrors.map((e) => e.error)).toEqual([
        expect.objectContaining({ code: 'invalid_message', message: expect.stringMatching(/deeper than 64/) }),
      ]);
    } finally {
      ws.close();
    }
  });

  it('a batch input line, named by its number', async () => {
    const ok = JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: OTHER_MODEL, messages: [{ role: 'user', content: 'hi' }] },
    });
    const deep = `{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"${OTHER_MODEL}","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(100)}${']'.repeat(100)}}}`;
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([`${ok}\n${deep}\n`]), 'deep.jsonl');
    const res = await fetch(`${stack.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: form });
    const body = (await res.json()) as { error: { message: string; code: string } };
    expect(res.status).toBe(400);
    expect(body.error.code).toBe('invalid_batch_line');
    expect(body.error.message).toMatch(/line 2: .*deeper than 64/);
  });
});
