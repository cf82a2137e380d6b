// Routing policy: alias targets from the config file, fallback before the first token on 429, 500,
// timeouts and context-window errors, a circuit breaker per target, and load balancing across
// upstream keys.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { startMockProviders, type MockProviders } from '../../services/mock-providers/server.ts';

let stack: Stack;
let slowMock: MockProviders;
let revived: MockProviders | null = null;
let downPort: number;

const CONFIG = `
providers:
  openai:
    api_keys:
      - { key: sk-upstream-a, weight: 1 }
      - { key: sk-upstream-b, weight: 1 }
models:
  fb-429: { targets: [{ model: groq/m-429 }, { model: openai/gpt-4o-mini }] }
  fb-500: { targets: [{ model: groq/m-500 }, { model: openai/gpt-4o-mini }] }
  fb-ctx: { targets: [{ model: groq/m-ctx }, { model: openai/gpt-4o-mini }] }
  fb-400: { targets: [{ model: groq/m-400 }, { model: openai/gpt-4o-mini }] }
  fb-stream: { targets: [{ model: groq/m-stream }, { model: openai/gpt-4o-mini }] }
  fb-slow: { targets: [{ model: xai/grok-slow }, { model: openai/gpt-4o-mini }] }
  fb-down: { targets: [{ model: anthropic/claude-down }, { model: openai/gpt-4o-mini }] }
  fb-weighted:
    strategy: weighted
    targets: [{ model: groq/m-w, weight: 1 }, { model: openai/gpt-4o-mini, weight: 3 }]
`;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-fallback-'));
  const configPath = join(dir, 'switchyard.yaml');
  writeFileSync(configPath, CONFIG);
  // xAI points at a mock that takes 5 s to answer; Anthropic at a port nobody listens on.
  slowMock = await startMockProviders({ defaults: { ttft_ms: 5_000 } });
  downPort = await freePort();
  stack = await startStack({
    mockDefaults: {},
    env: {
      SWITCHYARD_CONFIG: configPath,
      FALLBACK_TIMEOUT_MS: '1000',
      BREAKER_FAILURES: '3',
      BREAKER_COOLDOWN_MS: '2000',
    },
    providerEnv: (mockUrl) => ({
      GROQ_BASE_URL: `${mockUrl}/groq/openai/v1`,
      GROQ_API_KEY: 'gsk-test',
      XAI_BASE_URL: `${slowMock.url}/xai/v1`,
      XAI_API_KEY: 'xai-test',
      ANTHROPIC_BASE_URL: `http://127.0.0.1:${downPort}/anthropic`,
      ANTHROPIC_API_KEY: 'sk-ant-test',
    }),
  });
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await slowMock?.close();
  await revived?.close();
});

async function chat(model: string, content: string, extra: Record<string, unknown> = {}) {
  const started = Date.now();
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra }),
  });
  const text = await res.text();
  return {
    status: res.status,
    provider: res.headers.get('x-switchyard-provider'),
    attempts: res.headers.get('x-switchyard-attempts'),
    text,
    ms: Date.now() - started,
  };
}

const failOnce = (key: string, error: Record<string, unknown>) =>
  `hello\nmock:${JSON.stringify({ error, fail_times: 1, fail_key: key, text: 'from fallback' })}`;

describe('fallback to the next alias target', () => {
  it('on 429 at once, without waiting for the first target retry-after', async () => {
    const r = await chat('fb-429', failOnce('k429', { status: 429, retry_after: 30 }));
    expect(r.status).toBe(200);
    expect(r.provider).toBe('openai');
    expect(r.attempts).toBe('2');
    expect(r.text).toContain('from fallback');
    expect(r.ms).toBeLessThan(5_000);
  });

  it('on 500', async () => {
    const r = await chat('fb-500', failOnce('k500', { status: 500 }));
    expect(r).toMatchObject({ status: 200, provider: 'openai', attempts: '2' });
  });

  it('on a context-window error', async () => {
    const r = await chat(
      'fb-ctx',
      failOnce('kctx', { status: 400, code: 'context_length_exceeded', message: "This model's maximum context length is 8192 tokens" }),
    );
    expect(r).toMatchObject({ status: 200, provider: 'openai', attempts: '2' });
  });

  it('on a timeout of the first target', async () => {
    const r = await chat('fb-slow', 'slow first target');
    expect(r).toMatchObject({ status: 200, provider: 'openai', attempts: '2' });
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(4_000);
  });

  it('not on a plain client error: the 400 is the answer', async () => {
    const r = await chat('fb-400', failOnce('k400', { status: 400, message: 'bad parameter' }));
    expect(r.status).toBe(400);
    expect(r.attempts).toBeNull();
  });

  it('for streams, before the first token; the SSE headers name the provider and attempts', async () => {
    const r = await chat('fb-stream', failOnce('kstream', { status: 503 }), { stream: true });
    expect(r).toMatchObject({ status: 200, provider: 'openai', attempts: '2' });
    expect(r.text).toContain('from');
    expect(r.text).toContain('[DONE]');
  });

  it('weighted aliases spread requests over their targets', async () => {
    const providers = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await chat('fb-weighted', 'w');
      providers.set(r.provider!, (providers.get(r.provider!) ?? 0) + 1);
    }
    expect(providers.get('openai')!).toBeGreaterThan(providers.get('groq') ?? 0);
    expect(providers.get('groq')!).toBeGreaterThan(0);
  });
});

describe('circuit breaker', () => {
  it('opens on a target that is down, stops sending there, and closes once it recovers', async () => {
    // Closed port: each request tries Anthropic (connection refused), then falls back.
    for (let i = 0; i < 3; i++) expect(await chat('fb-down', 'down')).toMatchObject({ status: 200, provider: 'openai', attempts: '2' });
    // Three consecutive failures: the breaker is open, the dead target is skipped.
    for (let i = 0; i < 3; i++) expect(await chat('fb-down', 'down')).toMatchObject({ status: 200, provider: 'openai', attempts: '1' });
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toContain('switchyard_breaker_state{target="anthropic/claude-down"} 1');
    expect(metrics).toMatch(/switchyard_fallbacks_total\{from="anthropic\/claude-down",reason="circuit_open"\} [1-9]/);

    // The target comes back; after the cooldown one probe goes through and closes the breaker.
    revived = await startMockProviders({ port: downPort });
    await waitFor(
      async () => {
        const r = await chat('fb-down', 'up again');
        return r.provider === 'anthropic' ? r : undefined;
      },
      { timeoutMs: 10_000, what: 'breaker to close' },
    );
    expect(await chat('fb-down', 'up')).toMatchObject({ status: 200, provider: 'anthropic', attempts: '1' });
    expect(await (await fetch(`${stack.url}/metrics`)).text()).toContain('switchyard_breaker_state{target="anthropic/claude-down"} 0');
  });
});

describe('upstream keys', () => {
  it('balances requests across the provider keys of the config file', async () => {
    stack.mock.reset();
    for (let i = 0; i < 20; i++) expect((await chat('openai/gpt-4o-mini', 'k')).status).toBe(200);
    const used = stack.mock.requests.map((r) => String(r.headers.authorization));
    expect(used.filter((a) => a === 'Bearer sk-upstream-a').length).toBeGreaterThan(0);
    expect(used.filter((a) => a === 'Bearer sk-upstream-b').length).toBeGreaterThan(0);
  });
});
