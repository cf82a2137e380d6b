// GET /v1/models through the official openai SDK: aliases, config-declared models and each provider's
// own list (fetched from the simulators in their native shapes), filtered by the key's allowed_models;
// GET /v1/models/{id} with ids that contain slashes; a provider whose list is down still lists its
// configured models.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { SIMULATOR_ONLY_MODELS } from '../../services/mock-providers/model-lists.ts';

const ADMIN = 'admin-models-test';
const CONFIG = `
providers:
  together:
    type: openai-compatible
    base_url: \${TOGETHER_BASE_URL}
    api_keys:
      - key: \${TOGETHER_API_KEY}
    models: [llama-3.3-70b]
models:
  fast: { targets: [{ model: openai/gpt-4o-mini }] }
  smart: { targets: [{ model: anthropic/claude-sonnet-4-5 }, { model: openai/gpt-4o }] }
`;

let stack: Stack;
let client: OpenAI;

async function keyWith(allowed_models: string[]): Promise<OpenAI> {
  const res = await fetch(`${stack.url}/admin/v1/tenants/tenant_default/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ allowed_models }),
  });
  expect(res.status).toBe(201);
  const { key } = (await res.json()) as { key: string };
  return new OpenAI({ apiKey: key, baseURL: `${stack.url}/v1`, maxRetries: 0 });
}

async function ids(c: OpenAI): Promise<string[]> {
  const out: string[] = [];
  for await (const m of c.models.list()) out.push(m.id);
  return out;
}

beforeAll(async () => {
  const configPath = join(mkdtempSync(join(tmpdir(), 'sy-models-')), 'switchyard.yaml');
  writeFileSync(configPath, CONFIG);
  stack = await startStack({
    env: { SWITCHYARD_CONFIG: configPath, ADMIN_API_KEY: ADMIN },
    providerEnv: (mock) => ({
      TOGETHER_BASE_URL: `${mock}/v1`,
      TOGETHER_API_KEY: 'sk-together-test',
      ANTHROPIC_BASE_URL: `${mock}/anthropic`,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      GEMINI_BASE_URL: `${mock}/gemini/v1beta`,
      GEMINI_API_KEY: 'gem-test',
      OLLAMA_BASE_URL: `${mock}/ollama`,
      // A Groq endpoint without a model list: its fetch fails (404).
      GROQ_BASE_URL: `${mock}/nowhere/v1`,
      GROQ_API_KEY: 'gsk-test',
    }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => stack?.close());

describe('GET /v1/models', () => {
  it("lists aliases, declared models and every provider's own list, fetched with the upstream key", async () => {
    const all = await ids(client);
    expect(all).toEqual(expect.arrayContaining(['fast', 'smart', 'together/llama-3.3-70b']));
    // Only the upstream lists have these names: the lists were fetched, in each native shape.
    for (const p of ['openai', 'anthropic', 'gemini']) expect(all).toContain(`${p}/${SIMULATOR_ONLY_MODELS[p]}`);
    expect(all).toContain('ollama/qwen3:0.6b');
    expect(all).toContain('ollama/llama3.2:latest');
    expect(all).toContain('together/gpt-4o-mini'); // the declared provider's own GET /models
    expect(new Set(all).size).toBe(all.length);
    expect(stack.mock.stats.byRoute).toMatchObject({ 'anthropic.models': expect.any(Number), 'gemini.models': expect.any(Number) });
  });

  it('a provider whose list cannot be fetched still lists its configured models, and listing works', async () => {
    const all = await ids(client);
    expect(all).toContain('groq/llama-3.3-70b-versatile');
    expect(all).not.toContain(`groq/${SIMULATOR_ONLY_MODELS.groq}`);
  });

  it("hides what the key's allowed_models refuses, and retrieve answers 404 model_not_found for it", async () => {
    const restricted = await keyWith(['openai/*', 'fast']);
    const visible = await ids(restricted);
    expect(visible).toContain('fast');
    expect(visible).toContain('openai/gpt-4o-mini');
    expect(visible).toContain(`openai/${SIMULATOR_ONLY_MODELS.openai}`);
    expect(visible.filter((id) => !id.startsWith('openai/') && id !== 'fast')).toEqual([]);

    const err = await restricted.models.retrieve('anthropic/claude-sonnet-4-5').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({ code: 'model_not_found', param: 'model' });
    expect(await client.models.retrieve('anthropic/claude-sonnet-4-5')).toMatchObject({ id: 'anthropic/claude-sonnet-4-5' });
  });

  it('retrieve works for ids with slashes (raw and percent-encoded) and aliases; unknown ids are 404', async () => {
    expect(await client.models.retrieve('openai/gpt-4o-mini')).toEqual({
      id: 'openai/gpt-4o-mini',
      object: 'model',
      created: expect.any(Number),
      owned_by: 'openai',
    });
    expect(await client.models.retrieve('fast')).toMatchObject({ id: 'fast', owned_by: 'switchyard' });
    const raw = await fetch(`${stack.url}/v1/models/openai/gpt-4o-mini`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(raw.status).toBe(200);
    expect(((await raw.json()) as { id: string }).id).toBe('openai/gpt-4o-mini');

    const missing = await fetch(`${stack.url}/v1/models/openai/no-such-model`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { message: expect.stringContaining('openai/no-such-model'), type: 'not_found_error', param: 'model', code: 'model_not_found' },
    });
  });

  it('needs a key', async () => {
    const res = await fetch(`${stack.url}/v1/models`);
    expect(res.status).toBe(401);
  });
});
