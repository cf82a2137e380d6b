// Bad input gets a clear OpenAI-style error and never reaches the queue or the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}`, ...headers },
    body,
  });
  return {
    status: res.status,
    headers: res.headers,
    json: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } },
  };
}

describe('request validation and auth', () => {
  it('malformed JSON is a 400 invalid_json', async () => {
    const r = await post('/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [');
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    expect(r.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('a missing field is named', async () => {
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini' }));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ param: 'messages', code: 'missing_required_parameter' });
  });

  it('a bad nested field is named the way OpenAI does', async () => {
    const r = await post(
      '/v1/chat/completions',
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'wizard', content: 'x' },
        ],
      }),
    );
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe('messages[1].role');
    const t = await post(
      '/v1/chat/completions',
      JSON.stringify({ model: 'gpt-4o-mini', temperature: 7, messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(t.json.error.param).toBe('temperature');
    const e = await post('/v1/embeddings', JSON.stringify({ model: 'text-embedding-3-small', input: 42 }));
    expect(e.status).toBe(400);
    expect(e.json.error.param).toBe('input');
  });

  it('a body that is not an object is rejected', async () => {
    const r = await post('/v1/chat/completions', '[1,2]');
    expect(r.status).toBe(400);
  });

  it('an unknown provider prefix is a 404 model_not_found', async () => {
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'nosuch/model', messages: [{ role: 'user', content: 'hi' }] }));
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });

  it('missing and bad keys are 401 with the OpenAI envelope', async () => {
    const missing = await post('/v1/chat/completions', '{}', { authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.json.error.code).toBe('missing_api_key');
    const bad = await post('/v1/chat/completions', '{}', { authorization: 'Bearer sk-wrong' });
    expect(bad.status).toBe(401);
    expect(bad.json.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    const models = await fetch(`${stack.url}/v1/models`);
    expect(models.status).toBe(401);
  });

  it('nothing of the above reached the upstream or the ledger', async () => {
    expect(stack.mock.stats.requests).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(await stack.db.selectFrom('usage').select('request_id').execute()).toHaveLength(0);
  });

  it('unknown routes are 404 in the envelope; health and readiness answer', async () => {
    const r = await fetch(`${stack.url}/v1/nope`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ nats: true, database: true });
  });
});
