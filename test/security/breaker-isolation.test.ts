// One tenant must not take a model away from the others: bodies that break on their own (100k nested
// `[`, parameters the upstream refuses) fail for their sender with a 400 and never count toward the
// shared circuit breaker, retries or fallbacks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort } from '../harness/ports.ts';
import { buildIngress, type Ingress } from '../../services/ingress/server.ts';
import { createKey, createTenant } from '../../shared/db/tenants.ts';

const MODEL = 'openai/gpt-4o-mini';
const DEEP = 100_000;
const deepBody = () => `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`;

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
      // Reaches the worker, whose adapter cannot serialise it: the request's fault, a 400.
      const deep = await post(laxUrl, stack.apiKey, deepBody());
      expect(deep.status).toBe(400);
      expect(deep.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request' });
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
    // Each upstream 400 reached the upstream exactly once; the deep bodies never did.
    expect(stack.mock.stats.requests - before).toBe(4 + 4);
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
