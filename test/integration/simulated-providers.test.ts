// Simulators per provider, and only in development: with one provider key set, the other providers
// still answer, from their simulators, and every such answer says so (`x-switchyard-simulated: true`
// on JSON and SSE, `simulated: true` on the WebSocket `done` frame); the keyed provider's answers do
// not. In production the same environment leaves those providers unconfigured: a clear 503.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { SwitchyardWsClient } from '../../shared/client/ws-client.ts';

// OPENAI_API_KEY / OPENAI_BASE_URL come from the harness: the "real" upstream here is the mock
// server too, but it was configured with a key, so Switchyard must not call it simulated.
const withSimulator = (mode: string) => (mockUrl: string) => ({ SWITCHYARD_MODE: mode, SIMULATOR_URL: mockUrl });

async function chat(stack: Stack, model: string, extra: Record<string, unknown> = {}) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi\nmock:{"tokens":3}' }], ...extra }),
  });
}

async function modelIds(stack: Stack): Promise<string[]> {
  const res = await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  return ((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
}

describe('development: one key set, the rest simulated', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ providerEnv: withSimulator('development'), env: { WORKER_MAX_RETRIES: '0' } });
  });
  afterAll(async () => stack?.close());

  it('the keyed provider answers unmarked; the others answer from their simulators, marked (JSON)', async () => {
    const real = await chat(stack, 'openai/gpt-4o-mini');
    expect(real.status).toBe(200);
    expect(real.headers.get('x-switchyard-simulated')).toBeNull();

    for (const model of [
      'anthropic/claude-sonnet-4-5',
      'gemini/gemini-2.5-flash',
      'groq/llama-3.3-70b-versatile',
      'ollama/llama3.2',
      'mistral/mistral-small-latest',
    ]) {
      const res = await chat(stack, model);
      const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
      expect(res.status, model).toBe(200);
      expect(res.headers.get('x-switchyard-simulated'), model).toBe('true');
      expect(res.headers.get('x-switchyard-provider')).toBe(model.slice(0, model.indexOf('/')));
      expect(body.choices[0]!.message.content.length).toBeGreaterThan(0);
    }
    // The simulator received the requests in each provider's own wire format.
    expect(stack.mock.stats.byRoute).toMatchObject({ 'anthropic.messages': expect.any(Number), 'mistral.chat': 1 });
  });

  it('SSE streams carry the header too', async () => {
    const sim = await chat(stack, 'xai/grok-3-mini', { stream: true });
    expect(sim.status).toBe(200);
    expect(sim.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(sim.headers.get('x-switchyard-simulated')).toBe('true');
    expect(await sim.text()).toMatch(/data: \[DONE\]/);

    const real = await chat(stack, 'openai/gpt-4o-mini', { stream: true });
    expect(real.headers.get('x-switchyard-simulated')).toBeNull();
    await real.text();
  });

  it('the WebSocket done frame carries simulated: true, only for simulated providers', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    try {
      const messages = [{ role: 'user', content: 'hi\nmock:{"tokens":2}' }];
      const sim = await ws.chat({ model: 'anthropic/claude-haiku-4-5', messages }).result;
      const real = await ws.chat({ model: 'openai/gpt-4o-mini', messages }).result;
      expect(sim.done.simulated).toBe(true);
      expect(real.done.simulated).toBeUndefined();
    } finally {
      ws.close();
    }
  });

  it('legacy /v1/completions answers from a simulator carry the header too (JSON and SSE)', async () => {
    for (const stream of [false, true]) {
      const res = await fetch(`${stack.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gemini/gemini-2.5-flash', prompt: 'hi\nmock:{"tokens":2}', stream }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-switchyard-simulated')).toBe('true');
      expect(await res.text()).toMatch(/text_completion/);
    }
  });

  it('GET /v1/models lists every provider', async () => {
    const ids = await modelIds(stack);
    for (const p of ['openai', 'anthropic', 'gemini', 'groq', 'xai', 'ollama', 'mistral'])
      expect(ids.some((id) => id.startsWith(`${p}/`))).toBe(true);
  });
});

describe('production: no simulators, a clear error for a provider without key', () => {
  let stack: Stack;
  beforeAll(async () => {
    // An alias whose primary provider has no key: the worker must skip it without an upstream call.
    const configPath = join(mkdtempSync(join(tmpdir(), 'sy-sim-')), 'switchyard.yaml');
    writeFileSync(
      configPath,
      'models:\n  smart:\n    targets:\n      - model: anthropic/claude-sonnet-4-5\n      - model: openai/gpt-4o-mini\n',
    );
    // SIMULATOR_URL is set on purpose: production must ignore it.
    stack = await startStack({ providerEnv: withSimulator('production'), env: { SWITCHYARD_CONFIG: configPath } });
  });
  afterAll(async () => stack?.close());

  it('an unconfigured provider answers 503 provider_not_configured, JSON and stream alike', async () => {
    const before = stack.mock.stats.requests;
    for (const stream of [false, true]) {
      const res = await chat(stack, 'anthropic/claude-sonnet-4-5', { stream });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(body.error).toEqual({
        message: expect.stringMatching(/provider 'anthropic' is not configured.*ANTHROPIC_API_KEY/),
        type: 'server_error',
        param: 'model',
        code: 'provider_not_configured',
      });
    }
    expect(stack.mock.stats.requests).toBe(before); // nothing reached the simulator
  });

  it('the configured provider answers normally and unmarked; /v1/models lists only what is configured', async () => {
    const res = await chat(stack, 'openai/gpt-4o-mini');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-switchyard-simulated')).toBeNull();
    const ids = await modelIds(stack);
    expect(ids.some((id) => id.startsWith('openai/'))).toBe(true);
    expect(ids.some((id) => id.startsWith('anthropic/'))).toBe(false);
  });

  it('an alias skips its unconfigured target and is served by the next one, without calling it', async () => {
    const res = await chat(stack, 'smart');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-switchyard-provider')).toBe('openai');
    // One upstream call in all: the unconfigured anthropic target was not tried.
    expect(res.headers.get('x-switchyard-attempts')).toBe('1');
    expect(res.headers.get('x-switchyard-simulated')).toBeNull();
  });
});
