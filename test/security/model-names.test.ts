// Model names are data, not paths: a hostile model string is a 400 at the ingress and never makes an
// adapter call another upstream path with the operator's key; real ids of every provider still route.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { buildGeminiChatRequest, buildGeminiEmbeddingsRequest } from '../../shared/providers/gemini/build-request.ts';
import { modelNameProblem } from '../../shared/providers/model-names.ts';
import { parseConfigFile } from '../../shared/config/file.ts';

let stack: Stack;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-model-names-'));
  const configPath = join(dir, 'switchyard.yaml');
  writeFileSync(configPath, 'models:\n  team-fast: { targets: [{ model: gemini/gemini-2.5-flash }] }\n');
  stack = await startStack({
    env: { SWITCHYARD_CONFIG: configPath },
    providerEnv: (mockUrl) => ({
      GEMINI_BASE_URL: `${mockUrl}/gemini/v1beta`,
      GEMINI_API_KEY: 'gemini-operator-key',
      GROQ_BASE_URL: `${mockUrl}/groq/openai/v1`,
      GROQ_API_KEY: 'gsk-test',
      OLLAMA_BASE_URL: `${mockUrl}/ollama`,
    }),
  });
}, 60_000);
afterAll(async () => stack?.close());

async function call(path: string, model: string) {
  const body = path.endsWith('embeddings') ? { model, input: 'hi' } : { model, messages: [{ role: 'user', content: 'hi' }] };
  const res = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as { error?: { type: string; param: string | null; code: string | null } } };
}

const HOSTILE = [
  'gemini/../../../x/corpora#',
  'gemini/..',
  'gemini/%2e%2e/%2e%2e/x/corpora',
  'gemini/gemini-2.5-flash#',
  'gemini/gemini-2.5-flash?key=other',
  'gemini/gemini-2.5-flash:streamGenerateContent',
  'gemini/models/../../x',
  'gemini/gemini 2.5',
  'openai/gpt-4o-mini\r\nx-injected: 1',
  'openai/gpt-4o-mini\n',
  'openai/gpt-4o-mini\u0000',
  'groq/meta-llama//llama',
  'groq/../../v1/files',
  'ollama/../api/pull',
  'anthropic/claude/../../v1/complete',
  '../../admin',
  `openai/${'a'.repeat(300)}`,
  'x'.repeat(100_000),
];

describe('model names', () => {
  it('hostile names are a 400 naming the model field, on chat and embeddings, and never reach the upstream', async () => {
    const before = stack.mock.stats.requests;
    for (const model of HOSTILE) {
      for (const path of ['/v1/chat/completions', '/v1/embeddings']) {
        const r = await call(path, model);
        expect(r.status, `${path} ${JSON.stringify(model)}: ${r.text.slice(0, 200)}`).toBe(400);
        expect(r.json.error).toMatchObject({ type: 'invalid_request_error', param: 'model', code: 'invalid_model' });
      }
    }
    expect(stack.mock.stats.requests).toBe(before);
  });

  it('real ids of every provider and config aliases still route', async () => {
    const valid: Array<[string, string]> = [
      ['gemini/gemini-2.5-flash', '/gemini/v1beta/models/gemini-2.5-flash:generateContent'],
      ['gemini/models/gemini-2.5-flash', '/gemini/v1beta/models/gemini-2.5-flash:generateContent'],
      ['team-fast', '/gemini/v1beta/models/gemini-2.5-flash:generateContent'],
      ['groq/meta-llama/llama-4-scout-17b-16e-instruct', '/groq/openai/v1/chat/completions'],
      ['ollama/llama3.2:latest', '/ollama/api/chat'],
      ['ollama/hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M', '/ollama/api/chat'],
      ['openai/ft:gpt-4o-mini-2024-07-18:acme:custom:abc123', '/v1/chat/completions'],
      ['gpt-4o-mini', '/v1/chat/completions'],
    ];
    for (const [model, path] of valid) {
      stack.mock.requests.length = 0;
      const r = await call('/v1/chat/completions', model);
      expect(r.status, `${model}: ${r.text.slice(0, 200)}`).toBe(200);
      expect(stack.mock.requests.map((q) => q.path)).toEqual([path]);
    }
  });

  it('the Gemini adapter encodes the model as one path segment', async () => {
    const endpoint = { baseUrl: 'https://generativelanguage.googleapis.com/v1beta', apiKey: 'k' };
    const body = { model: 'x', messages: [{ role: 'user' as const, content: 'hi' }] };
    for (const model of ['../../../x/corpora#', 'a/../../b?key=1', 'models/../../x']) {
      const chat = new URL((await buildGeminiChatRequest(endpoint, model, body, false)).url);
      expect(chat.pathname).toMatch(/^\/v1beta\/models\/[^/]+:generateContent$/);
      expect(chat.hash).toBe('');
      expect(chat.search).toBe('');
      const emb = new URL(buildGeminiEmbeddingsRequest(endpoint, model, { model: 'x', input: 'hi' }).url);
      expect(emb.pathname).toMatch(/^\/v1beta\/models\/[^/]+:batchEmbedContents$/);
    }
  });

  it('a config alias whose target breaks the rules fails at load, naming the target', () => {
    expect(() => parseConfigFile('models:\n  bad: { targets: [{ model: "gemini/../../x/corpora" }] }\n')).toThrow(
      /models\.bad\.targets\[0\]\.model.*gemini model names may contain only/s,
    );
    expect(
      parseConfigFile('models:\n  ok: { targets: [{ model: groq/meta-llama/llama-4-scout-17b-16e-instruct }] }\n').models.ok,
    ).toBeTruthy();
  });

  it('the name rules follow the providers: / only where their ids use it', () => {
    expect(modelNameProblem('groq', 'openai/gpt-oss-120b')).toBeNull();
    expect(modelNameProblem('ollama', 'gpt-oss:20b')).toBeNull();
    expect(modelNameProblem('anthropic', 'claude-sonnet-4-5-20250929')).toBeNull();
    expect(modelNameProblem('xai', 'grok-3-mini')).toBeNull();
    expect(modelNameProblem('gemini', 'gemini-2.5-flash-preview-09-2025')).toBeNull();
    expect(modelNameProblem('anthropic', 'a/b')).not.toBeNull();
    expect(modelNameProblem('xai', 'a/b')).not.toBeNull();
    expect(modelNameProblem('gemini', 'a/b')).not.toBeNull();
    expect(modelNameProblem('gemini', 'a:b')).not.toBeNull();
  });
});
