// No silent drops: every field of an OpenAI chat-completions request, sent through the official openai
// SDK to every provider, either reaches the provider's simulator (as is, or as the provider's equivalent,
// checked here field by field) or comes back as a 400 `unsupported_parameter` naming the field and the
// provider, before anything went upstream. There is no third outcome. Which of the two applies is what
// each provider declares in its descriptor (shared/providers/<provider>/request-fields.ts); test names
// carry `{field ...}` claims from which docs/capabilities.md renders its request-field table.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, startStack, type Stack } from '../harness/stack.ts';
import type { RecordedRequest } from '../../services/mock-providers/server.ts';
import { getDescriptor } from '../../shared/providers/registry.ts';
import { CHAT_REQUEST_FIELD_NAMES, unsupportedField, type ChatRequestField } from '../../shared/providers/request-fields.ts';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';
import { fieldClaim, FIELD_COLUMNS } from './capabilities.ts';

/** The config-declared OpenAI-compatible provider (here the OpenAI simulator under another name). */
const DECLARED = 'openai-compatible';
const MODELS: Record<string, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-5',
  gemini: 'gemini-3-pro-preview',
  groq: 'llama-3.3-70b-versatile',
  xai: 'grok-3-mini',
  ollama: 'qwen3',
  mistral: 'mistral-small-latest',
  [DECLARED]: 'some-model',
};

const CONFIG = `
providers:
  ${DECLARED}:
    type: openai-compatible
    base_url: \${DECLARED_BASE_URL}
    api_keys:
      - key: sk-declared
models:
  # logprobs: Anthropic refuses them, OpenAI takes them -> the worker moves on to OpenAI.
  claude-then-gpt: { targets: [{ model: anthropic/claude-sonnet-4-5 }, { model: openai/gpt-4o-mini }] }
  # Neither target returns logprobs -> the ingress refuses before queueing.
  claude-then-mistral: { targets: [{ model: anthropic/claude-sonnet-4-5 }, { model: mistral/mistral-small-latest }] }
`;

const TOOLS = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
];
const JSON_SCHEMA = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };

const AUDIO_PART = { type: 'input_audio', input_audio: { data: 'UklGRgAAAABXQVZF', format: 'wav' } };
const FILE_PART = { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } };

/**
 * A value of each field that asks the upstream for something, and what the request needs beside it.
 * Content part types (`part`) go into the user message after its text.
 */
const CASES: Record<ChatRequestField, { value?: unknown; with?: Record<string, unknown>; part?: Record<string, unknown> }> = {
  input_audio: { part: AUDIO_PART },
  file: { part: FILE_PART },
  audio: { value: { voice: 'alloy', format: 'wav' } },
  frequency_penalty: { value: 0.5 },
  function_call: { value: 'auto' },
  functions: { value: [{ name: 'f', parameters: { type: 'object', properties: {} } }] },
  logit_bias: { value: { '50256': -100 } },
  logprobs: { value: true },
  max_completion_tokens: { value: 77 },
  max_tokens: { value: 66 },
  metadata: { value: { trace: 't-1' } },
  modalities: { value: ['text', 'audio'] },
  moderation: { value: { model: 'omni-moderation-latest' } },
  n: { value: 2 },
  parallel_tool_calls: { value: false, with: { tools: TOOLS } },
  prediction: { value: { type: 'content', content: 'draft' } },
  presence_penalty: { value: 0.25 },
  prompt_cache_key: { value: 'cache-key-1' },
  prompt_cache_options: { value: { mode: 'explicit' } },
  prompt_cache_retention: { value: '24h' },
  reasoning_effort: { value: 'low' },
  response_format: { value: { type: 'json_schema', json_schema: { name: 'answer', schema: JSON_SCHEMA } } },
  safety_identifier: { value: 'sid-1' },
  seed: { value: 42 },
  service_tier: { value: 'default' },
  stop: { value: ['END'] },
  store: { value: true },
  temperature: { value: 0.3 },
  tool_choice: { value: 'required', with: { tools: TOOLS } },
  tools: { value: TOOLS },
  top_logprobs: { value: 3 },
  top_p: { value: 0.9 },
  user: { value: 'user-1' },
  verbosity: { value: 'low' },
  web_search_options: { value: { search_context_size: 'low' } },
};
/** Where a provider takes another value of a field than CASES (its refusal of that one is proven below). */
const OVERRIDES: Partial<Record<string, Partial<Record<ChatRequestField, unknown>>>> = {
  ollama: { tool_choice: 'none' },
};

type Upstream = RecordedRequest & { body: Record<string, any> };
/**
 * Each translated cell: what the provider's simulator must have received. A cell declared translated
 * without an entry here fails, so a translation cannot be claimed without being checked.
 */
const TRANSLATED: Record<string, Partial<Record<ChatRequestField, (up: Upstream) => void>>> = {
  anthropic: {
    max_completion_tokens: (up) => expect(up.body.max_tokens).toBe(77),
    max_tokens: (up) => expect(up.body.max_tokens).toBe(66),
    parallel_tool_calls: (up) => expect(up.body.tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true }),
    reasoning_effort: (up) => expect(up.body.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 }),
    response_format: (up) => expect(up.body.output_config).toEqual({ format: { type: 'json_schema', schema: JSON_SCHEMA } }),
    safety_identifier: (up) => expect(up.body.metadata).toEqual({ user_id: 'sid-1' }),
    service_tier: (up) => expect(up.body.service_tier).toBe('standard_only'),
    stop: (up) => expect(up.body.stop_sequences).toEqual(['END']),
    temperature: (up) => expect(up.body.temperature).toBe(0.3),
    top_p: (up) => expect(up.body.top_p).toBe(0.9),
    tool_choice: (up) => expect(up.body.tool_choice).toEqual({ type: 'any' }),
    tools: (up) => expect(up.body.tools[0]).toMatchObject({ name: 'get_weather', input_schema: TOOLS[0]!.function.parameters }),
    user: (up) => expect(up.body.metadata).toEqual({ user_id: 'user-1' }),
    file: (up) =>
      expect(up.body.messages[0].content[1]).toEqual({
        type: 'document',
        source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' },
      }),
  },
  gemini: {
    frequency_penalty: (up) => expect(up.body.generationConfig.frequencyPenalty).toBe(0.5),
    presence_penalty: (up) => expect(up.body.generationConfig.presencePenalty).toBe(0.25),
    logprobs: (up) => expect(up.body.generationConfig.responseLogprobs).toBe(true),
    top_logprobs: (up) => expect(up.body.generationConfig).toMatchObject({ responseLogprobs: true, logprobs: 3 }),
    max_completion_tokens: (up) => expect(up.body.generationConfig.maxOutputTokens).toBe(77),
    max_tokens: (up) => expect(up.body.generationConfig.maxOutputTokens).toBe(66),
    reasoning_effort: (up) => expect(up.body.generationConfig.thinkingConfig).toEqual({ thinkingLevel: 'low', includeThoughts: true }),
    response_format: (up) =>
      expect(up.body.generationConfig).toMatchObject({ responseMimeType: 'application/json', responseJsonSchema: JSON_SCHEMA }),
    seed: (up) => expect(up.body.generationConfig.seed).toBe(42),
    n: (up) => expect(up.body.generationConfig.candidateCount).toBe(2),
    input_audio: (up) =>
      expect(up.body.contents[0].parts).toEqual([
        { text: expect.stringContaining('hello') },
        { inlineData: { mimeType: 'audio/wav', data: 'UklGRgAAAABXQVZF' } },
      ]),
    file: (up) =>
      expect(up.body.contents[0].parts).toEqual([
        { text: expect.stringContaining('hello') },
        { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0xLjQK' } },
      ]),
    stop: (up) => expect(up.body.generationConfig.stopSequences).toEqual(['END']),
    temperature: (up) => expect(up.body.generationConfig.temperature).toBe(0.3),
    top_p: (up) => expect(up.body.generationConfig.topP).toBe(0.9),
    tool_choice: (up) => expect(up.body.toolConfig.functionCallingConfig.mode).toBe('ANY'),
    tools: (up) => expect(up.body.tools[0].functionDeclarations[0].name).toBe('get_weather'),
  },
  ollama: {
    logprobs: (up) => expect(up.body.logprobs).toBe(true),
    top_logprobs: (up) => expect(up.body).toMatchObject({ logprobs: true, top_logprobs: 3 }),
    frequency_penalty: (up) => expect(up.body.options.frequency_penalty).toBe(0.5),
    presence_penalty: (up) => expect(up.body.options.presence_penalty).toBe(0.25),
    max_completion_tokens: (up) => expect(up.body.options.num_predict).toBe(77),
    max_tokens: (up) => expect(up.body.options.num_predict).toBe(66),
    reasoning_effort: (up) => expect(up.body.think).toBe(true),
    response_format: (up) => expect(up.body.format).toEqual(JSON_SCHEMA),
    seed: (up) => expect(up.body.options.seed).toBe(42),
    stop: (up) => expect(up.body.options.stop).toEqual(['END']),
    temperature: (up) => expect(up.body.options.temperature).toBe(0.3),
    top_p: (up) => expect(up.body.options.top_p).toBe(0.9),
    // "none": the tools are not offered at all.
    tool_choice: (up) => expect(up.body.tools).toBeUndefined(),
    tools: (up) => expect(up.body.tools[0].function.name).toBe('get_weather'),
  },
  mistral: {
    max_completion_tokens: (up) => expect(up.body.max_tokens).toBe(77),
    seed: (up) => expect(up.body.random_seed).toBe(42),
  },
  xai: {
    reasoning_effort: (up) => expect(up.body.reasoning_effort).toBe('low'),
  },
};

/** Requests the table refuses only in some combinations: [provider, field, request, why]. */
const CONDITIONAL_REFUSALS: Array<[string, ChatRequestField, Record<string, unknown>]> = [
  ['anthropic', 'temperature', { temperature: 0.5, reasoning_effort: 'low' }],
  ['anthropic', 'top_p', { top_p: 0.5, reasoning_effort: 'low' }],
  ['anthropic', 'service_tier', { service_tier: 'flex' }],
  ['ollama', 'tool_choice', { tool_choice: 'required', tools: TOOLS }],
  ...['openai', 'gemini', 'groq', 'xai', 'mistral', 'openai-compatible'].map(
    (p) => [p, 'n', { n: 2, stream: true }] as [string, ChatRequestField, Record<string, unknown>],
  ),
  ['ollama', 'tool_choice', { tool_choice: { type: 'function', function: { name: 'get_weather' } }, tools: TOOLS }],
];

let stack: Stack;
let client: OpenAI;
let caseNo = 0;

beforeAll(async () => {
  const configPath = join(mkdtempSync(join(tmpdir(), 'sy-fields-')), 'switchyard.yaml');
  writeFileSync(configPath, CONFIG);
  stack = await startStack({
    env: { WORKER_MAX_RETRIES: '0', SWITCHYARD_CONFIG: configPath },
    providerEnv: (mock) => ({
      ANTHROPIC_BASE_URL: `${mock}/anthropic`,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      GEMINI_BASE_URL: `${mock}/gemini/v1beta`,
      GEMINI_API_KEY: 'gem-test',
      GROQ_BASE_URL: `${mock}/groq/openai/v1`,
      GROQ_API_KEY: 'gsk-test',
      XAI_BASE_URL: `${mock}/xai/v1`,
      XAI_API_KEY: 'xai-test',
      OLLAMA_BASE_URL: `${mock}/ollama`,
      MISTRAL_BASE_URL: `${mock}/mistral/v1`,
      MISTRAL_API_KEY: 'mistral-test',
      DECLARED_BASE_URL: `${mock}/v1`,
    }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => stack?.close());

/** Sends one request with a unique marker; returns the 400 or the request the simulator received. */
async function send(model: string, fields: Record<string, unknown>, part?: Record<string, unknown>) {
  const marker = `field-case-${++caseNo}`;
  const text = `hello ${marker}`;
  const body = { model, messages: [{ role: 'user', content: part ? [{ type: 'text', text }, part] : text }], ...fields };
  try {
    const res = await client.chat.completions.create(body as any).withResponse();
    const upstream = stack.mock.requests.filter((r) => JSON.stringify(r.body).includes(marker)) as Upstream[];
    return { ok: true as const, upstream, provider: res.response.headers.get('x-switchyard-provider') };
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    const upstream = stack.mock.requests.filter((r) => JSON.stringify(r.body).includes(marker));
    return { ok: false as const, err, upstream };
  }
}

/** `param` is the field, or for a content part where it sits (`messages[0].content[1]`). */
function expectRefused(r: Awaited<ReturnType<typeof send>>, provider: string, field: string, param = field) {
  expect(r.ok, `${provider} should refuse ${field}`).toBe(false);
  if (r.ok) return;
  expect(r.err.status).toBe(400);
  expect(r.err.error).toMatchObject({ type: 'invalid_request_error', param, code: 'unsupported_parameter' });
  expect(r.err.message).toContain(`'${provider}'`);
  expect(r.err.message).toContain(`'${param}'`);
  expect(r.err.message).toContain(field);
  expect(r.upstream, 'nothing went upstream').toHaveLength(0);
}

// On PGlite the storage path (auth, usage) is the same for every provider: two dialects suffice.
const COLUMNS = currentBackend() === 'pglite' ? ['openai', 'anthropic'] : FIELD_COLUMNS;

describe.each(COLUMNS)('%s: every OpenAI request field is sent, translated or refused', (provider) => {
  const table = getDescriptor(provider)?.requestFields ?? getDescriptor('openai')!.requestFields;
  for (const field of CHAT_REQUEST_FIELD_NAMES) {
    const { value: defaultValue, with: extra = {}, part } = CASES[field];
    const value = OVERRIDES[provider]?.[field] ?? defaultValue;
    const fields = part ? extra : { ...extra, [field]: value };
    const messages = [{ role: 'user', content: part ? [{ type: 'text', text: 'x' }, part] : 'x' }];
    const refusal = unsupportedField(provider, table, { messages, ...fields } as unknown as ChatCompletionRequest);
    const outcome = refusal ? 'refused' : table[field].outcome;
    it(`${field} ${fieldClaim(provider, field, outcome)}`, async () => {
      const r = await send(`${provider}/${MODELS[provider]}`, fields, part);
      if (outcome === 'refused') return expectRefused(r, provider, field, part ? 'messages[0].content[1]' : field);
      expect(r.ok, r.ok ? '' : `${provider} answered ${r.err.status}: ${r.err.message}`).toBe(true);
      expect(r.upstream, 'exactly one request reached the simulator').toHaveLength(1);
      const up = r.upstream[0]! as Upstream;
      if (outcome === 'sent' && part) {
        expect(up.body.messages.at(-1).content, `the ${field} part forwarded unchanged`).toContainEqual(part);
        return;
      }
      if (outcome === 'sent') {
        expect(up.body[field], `${field} forwarded unchanged`).toEqual(value);
        return;
      }
      const check = TRANSLATED[provider]?.[field];
      expect(check, `a check of what ${provider} receives for ${field}`).toBeDefined();
      check!(up);
    });
  }
});

describe('combinations a provider refuses although it takes each field alone', () => {
  for (const [provider, field, fields] of CONDITIONAL_REFUSALS) {
    it(`${provider}: ${JSON.stringify(fields)} ${fieldClaim(provider, field, 'refused-when')}`, async () => {
      expectRefused(await send(`${provider}/${MODELS[provider]}`, fields), provider, field);
    });
  }
});

describe('fallbacks: a field refused by one target is that target failing', () => {
  it('the ingress queues a request some target can serve; the worker skips the target that refuses', async () => {
    const r = await send('claude-then-gpt', { logprobs: true, top_logprobs: 2 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.provider).toBe('openai');
    expect(r.upstream).toHaveLength(1);
    expect(r.upstream[0]!.path).toMatch(/^\/v1\/chat/);
    expect(r.upstream[0]!.body).toMatchObject({ logprobs: true, top_logprobs: 2 });
  });

  it('a request no target can serve is a 400 at the ingress, naming the first target', async () => {
    expectRefused(await send('claude-then-mistral', { logprobs: true }), 'anthropic', 'logprobs');
  });

  it('default values ask nothing and are served everywhere (logprobs false, n 1, parallel_tool_calls true)', async () => {
    const r = await send(`anthropic/${MODELS.anthropic}`, { logprobs: false, n: 1, parallel_tool_calls: true, store: false });
    expect(r.ok).toBe(true);
  });
});
