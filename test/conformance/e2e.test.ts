// End to end for all six providers: the official openai SDK talks to Switchyard with model
// `<provider>/<model>`; the worker's adapter speaks the provider's native wire format to the simulator,
// which checks it the way the real API would. Test names carry the capability claims they prove.
// Recorded upstream bodies are checked field by field; typing every provider's request shape here would add nothing.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, startStack, type Stack } from '../harness/stack.ts';
import type { RecordedRequest } from '../../services/mock-providers/server.ts';
import { JSON_MODE_TOOL } from '../../shared/providers/anthropic/build-request.ts';
import { proves } from './capabilities.ts';

const MODELS = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-5',
  gemini: 'gemini-3-pro-preview',
  groq: 'llama-3.3-70b-versatile',
  xai: 'grok-3-mini',
  ollama: 'qwen3',
} as const;
type Provider = keyof typeof MODELS;
const PATHS: Record<Provider, RegExp> = {
  openai: /^\/v1\/chat/,
  anthropic: /^\/anthropic\/v1\/messages$/,
  gemini: /^\/gemini\/v1beta\/models\//,
  groq: /^\/groq\/openai\/v1\/chat/,
  xai: /^\/xai\/v1\/chat/,
  ollama: /^\/ollama\/api\/chat$/,
};
// A 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

let stack: Stack;
let client: OpenAI;
let images: Server;
let imageUrl: string;

beforeAll(async () => {
  images = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
  await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
  imageUrl = `http://127.0.0.1:${(images.address() as AddressInfo).port}/cat.png`;
  // The image server is on loopback, which tenant image URLs may only reach when allowlisted.
  const configPath = join(mkdtempSync(join(tmpdir(), 'sy-e2e-')), 'switchyard.yaml');
  writeFileSync(configPath, "images:\n  allow_hosts: ['127.0.0.1']\n");
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
    }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await stack?.close();
  images?.close();
});

function lastUpstream(provider: Provider): RecordedRequest & { body: Record<string, any> } {
  const r = stack.mock.requests.filter((q) => PATHS[provider].test(q.path)).at(-1);
  expect(r, `a request reached the ${provider} simulator`).toBeDefined();
  return r as RecordedRequest & { body: Record<string, any> };
}

const TOOLS: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];
const TOOL_DIRECTIVE = 'mock:{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"get_time","arguments":{}}]}';

async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>) {
  let content = '';
  let reasoning = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  const calls: Array<{ id: string; name: string; args: string }> = [];
  let chunks = 0;
  for await (const c of stream) {
    chunks++;
    const d = c.choices[0]?.delta as (OpenAI.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string }) | undefined;
    content += d?.content ?? '';
    reasoning += d?.reasoning_content ?? '';
    for (const t of d?.tool_calls ?? []) {
      const slot = (calls[t.index] ??= { id: '', name: '', args: '' });
      if (t.id) slot.id = t.id;
      slot.name += t.function?.name ?? '';
      slot.args += t.function?.arguments ?? '';
    }
    finish = c.choices[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  return { content, reasoning, finish, usage, calls, chunks };
}

const ALL = Object.keys(MODELS) as Provider[];
// On PGlite the storage path (auth, usage) is the same for every provider: two wire formats suffice.
const PROVIDERS: Provider[] = currentBackend() === 'pglite' ? ['openai', 'anthropic'] : ALL;

describe.each(PROVIDERS)('%s through Switchyard', (provider) => {
  const model = `${provider}/${MODELS[provider]}`;

  it(`system prompt, multi-turn history, text, finish reason and usage ${proves(provider, 'text', 'system', 'multi-turn', 'finish reasons')}`, async () => {
    const res = await client.chat.completions.create({
      model,
      max_completion_tokens: 300,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: 'second question\nmock:{"text":"one two three"}' },
      ],
    });
    expect(res.model).toBe(model);
    expect(res.choices[0]!.message.content).toBe('one two three');
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage!.completion_tokens).toBe(3);
    expect(res.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + 3);
    const up = lastUpstream(provider);
    const texts = JSON.stringify(up.body);
    expect(texts).toContain('first answer');
    if (provider === 'anthropic') {
      expect(up.body.system).toBe('be brief');
      expect(up.body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user']);
      expect(up.body.max_tokens).toBe(300);
      expect(up.headers['x-api-key']).toBe('sk-ant-test');
      expect(up.headers['anthropic-version']).toBe('2023-06-01');
    } else if (provider === 'gemini') {
      expect(up.path).toBe(`/gemini/v1beta/models/${MODELS.gemini}:generateContent`);
      expect(up.body.systemInstruction).toEqual({ parts: [{ text: 'be brief' }] });
      expect(up.body.contents.map((c: { role: string }) => c.role)).toEqual(['user', 'model', 'user']);
      expect(up.body.generationConfig.maxOutputTokens).toBe(300);
      expect(up.headers['x-goog-api-key']).toBe('gem-test');
    } else if (provider === 'ollama') {
      expect(up.body.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
      expect(up.body.options.num_predict).toBe(300);
      expect(up.body.stream).toBe(false);
    } else {
      expect(up.body.model).toBe(MODELS[provider]);
      expect(up.body.messages[0]).toEqual({ role: 'system', content: 'be brief' });
    }
  });

  it(`streams tokens in order, then finish, then usage ${proves(provider, 'streaming', 'usage in stream')}`, async () => {
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'count\nmock:{"tokens":12,"itl_ms":1}' }],
    });
    const got = await collect(stream);
    expect(got.content).toBe(Array.from({ length: 12 }, (_, i) => `tok${i}`).join(' '));
    expect(got.finish).toBe('stop');
    expect(got.usage?.completion_tokens).toBe(12);
    expect(got.usage!.total_tokens).toBe(got.usage!.prompt_tokens + 12);
  });

  const toolChoiceClaim = provider === 'ollama' ? [] : (['tool_choice'] as const);
  it(`parallel tool calls with parsed arguments, streaming and not ${proves(provider, 'tool calls', 'parallel tools', 'streamed tool args', ...toolChoiceClaim)}`, async () => {
    const tool_choice = provider === 'ollama' ? 'auto' : 'required';
    const res = await client.chat.completions.create({
      model,
      tools: TOOLS,
      tool_choice,
      messages: [{ role: 'user', content: `weather and time?\n${TOOL_DIRECTIVE}` }],
    });
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    const calls = res.choices[0]!.message.tool_calls!.map((t) =>
      t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : null,
    );
    expect(calls).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', {}],
    ]);
    const ids = res.choices[0]!.message.tool_calls!.map((t) => t.id);
    expect(new Set(ids).size).toBe(2);
    const up = lastUpstream(provider);
    if (provider === 'anthropic') {
      expect(up.body.tools[0]).toMatchObject({ name: 'get_weather', input_schema: { type: 'object' } });
      expect(up.body.tool_choice).toEqual({ type: 'any' });
    } else if (provider === 'gemini') {
      expect(up.body.tools[0].functionDeclarations.map((f: { name: string }) => f.name)).toEqual(['get_weather', 'get_time']);
      expect(up.body.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    } else if (provider === 'ollama') {
      expect(up.body.tools[0]).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    } else expect(up.body.tool_choice).toBe('required');

    const stream = await client.chat.completions.create({
      model,
      stream: true,
      tools: TOOLS,
      messages: [{ role: 'user', content: `weather and time?\n${TOOL_DIRECTIVE}` }],
    });
    const got = await collect(stream);
    expect(got.finish).toBe('tool_calls');
    expect(got.calls.map((c) => [c.name, JSON.parse(c.args)])).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', {}],
    ]);
    expect(got.calls.every((c) => c.id !== '')).toBe(true);
  });

  it(`tool results go back in the native shape and the conversation continues ${proves(provider, 'tool calls', 'multi-turn')}`, async () => {
    const first = await client.chat.completions.create({
      model,
      tools: TOOLS,
      messages: [{ role: 'user', content: `weather?\n${TOOL_DIRECTIVE}` }],
    });
    const msg = first.choices[0]!.message;
    const calls = msg.tool_calls!.filter((t) => t.type === 'function');
    const res = await client.chat.completions.create({
      model,
      tools: TOOLS,
      messages: [
        { role: 'user', content: `weather?\n${TOOL_DIRECTIVE}` },
        { role: 'assistant', content: msg.content, tool_calls: msg.tool_calls },
        { role: 'tool', tool_call_id: calls[0]!.id, content: '{"temp":21}' },
        { role: 'tool', tool_call_id: calls[1]!.id, content: '12:00' },
      ],
    });
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.choices[0]!.message.content).toContain('21');
    expect(res.choices[0]!.message.content).toContain('12:00');
    const up = lastUpstream(provider);
    if (provider === 'anthropic') {
      const last = up.body.messages.at(-1);
      expect(last.role).toBe('user');
      expect(last.content.map((b: { type: string; tool_use_id: string }) => [b.type, b.tool_use_id])).toEqual(
        calls.map((c) => ['tool_result', c.id]),
      );
    } else if (provider === 'gemini') {
      // The simulator refuses Gemini 3 history whose function call lost its thoughtSignature.
      expect(up.body.contents[1].parts[0].thoughtSignature).toMatch(/\S/);
      expect(up.body.contents[2].parts.map((p: { functionResponse: { name: string } }) => p.functionResponse.name)).toEqual([
        'get_weather',
        'get_time',
      ]);
      expect(up.body.contents[2].parts[0].functionResponse.response).toEqual({ temp: 21 });
    } else if (provider === 'ollama') {
      expect(up.body.messages[1].tool_calls[0].function.arguments).toEqual({ city: 'Paris' });
      expect(up.body.messages.slice(2).map((m: { role: string; tool_name: string }) => [m.role, m.tool_name])).toEqual([
        ['tool', 'get_weather'],
        ['tool', 'get_time'],
      ]);
    } else expect(up.body.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: calls[1]!.id });
  });

  it(`reasoning effort reaches the provider and reasoning comes back ${proves(provider, 'reasoning')}`, async () => {
    const directive = 'mock:{"text":"42","reasoning":"let me think about it"}';
    const res = await client.chat.completions.create({
      model,
      reasoning_effort: 'high',
      messages: [{ role: 'user', content: `why?\n${directive}` }],
    });
    expect((res.choices[0]!.message as { reasoning_content?: string }).reasoning_content).toBe('let me think about it');
    expect(res.choices[0]!.message.content).toBe('42');
    const up = lastUpstream(provider);
    if (provider === 'anthropic') expect(up.body.thinking).toEqual({ type: 'enabled', budget_tokens: 16384 });
    if (provider === 'gemini') expect(up.body.generationConfig.thinkingConfig).toEqual({ thinkingLevel: 'high', includeThoughts: true });
    if (provider === 'ollama') expect(up.body.think).toBe(true);
    if (provider === 'xai') expect(up.body.reasoning_effort).toBe('high');
    if (provider !== 'anthropic' && provider !== 'ollama') expect(res.usage!.completion_tokens_details?.reasoning_tokens).toBe(5);
    // Reasoning tokens are part of completion_tokens, whatever the provider counts.
    expect(res.usage!.completion_tokens).toBe(1 + 5);
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      reasoning_effort: 'high',
      messages: [{ role: 'user', content: `why?\n${directive}` }],
    });
    const got = await collect(stream);
    expect(got.reasoning).toBe('let me think about it');
    expect(got.content).toBe('42');
  });

  it(`images as data URL ${proves(provider, 'vision data URL')}`, async () => {
    const dataUrl = `data:image/png;base64,${PNG.toString('base64')}`;
    const res = await client.chat.completions.create({
      model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?\nmock:{"text":"a pixel"}' },
            { type: 'image_url', image_url: { url: dataUrl } },
          ],
        },
      ],
    });
    expect(res.choices[0]!.message.content).toBe('a pixel');
    const body = lastUpstream(provider).body;
    if (provider === 'anthropic')
      expect(body.messages[0].content[1]).toEqual({
        type: 'image',
        source: { type: 'base64', media_type: 'image/png', data: PNG.toString('base64') },
      });
    else if (provider === 'gemini')
      expect(body.contents[0].parts[1]).toEqual({ inlineData: { mimeType: 'image/png', data: PNG.toString('base64') } });
    else if (provider === 'ollama') expect(body.messages[0].images).toEqual([PNG.toString('base64')]);
    else expect(body.messages[0].content[1].image_url.url).toBe(dataUrl);
  });

  it(`images by URL, fetched and inlined where the provider needs bytes ${proves(provider, 'vision https URL')}`, async () => {
    const res = await client.chat.completions.create({
      model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?\nmock:{"text":"a cat"}' },
            { type: 'image_url', image_url: { url: imageUrl } },
          ],
        },
      ],
    });
    expect(res.choices[0]!.message.content).toBe('a cat');
    const body = lastUpstream(provider).body;
    if (provider === 'anthropic') expect(body.messages[0].content[1]).toEqual({ type: 'image', source: { type: 'url', url: imageUrl } });
    else if (provider === 'gemini')
      expect(body.contents[0].parts[1]).toEqual({ inlineData: { mimeType: 'image/png', data: PNG.toString('base64') } });
    else if (provider === 'ollama') expect(body.messages[0].images).toEqual([PNG.toString('base64')]);
    else expect(body.messages[0].content[1].image_url.url).toBe(imageUrl);
  });

  it(`JSON mode and JSON schema ${proves(provider, 'JSON mode', 'JSON schema')}`, async () => {
    // Anthropic has no JSON mode: it is emulated with a forced tool whose input becomes the text.
    const directive =
      provider === 'anthropic' ? `mock:{"tool_calls":[{"name":"${JSON_MODE_TOOL}","arguments":{"a":1}}]}` : 'mock:{"text":"{\\"a\\":1}"}';
    const res = await client.chat.completions.create({
      model,
      response_format: { type: 'json_object' },
      messages: [{ role: 'user', content: `json please\n${directive}` }],
    });
    expect(JSON.parse(res.choices[0]!.message.content!)).toEqual({ a: 1 });
    expect(res.choices[0]!.finish_reason).toBe('stop');
    let body = lastUpstream(provider).body;
    if (provider === 'anthropic') expect(body.tool_choice).toEqual({ type: 'tool', name: JSON_MODE_TOOL });
    else if (provider === 'gemini') expect(body.generationConfig.responseMimeType).toBe('application/json');
    else if (provider === 'ollama') expect(body.format).toBe('json');
    else expect(body.response_format).toEqual({ type: 'json_object' });

    const schema = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] };
    const res2 = await client.chat.completions.create({
      model,
      response_format: { type: 'json_schema', json_schema: { name: 'thing', schema } },
      messages: [{ role: 'user', content: 'json please\nmock:{"text":"{\\"a\\":2}"}' }],
    });
    expect(JSON.parse(res2.choices[0]!.message.content!)).toEqual({ a: 2 });
    body = lastUpstream(provider).body;
    if (provider === 'anthropic') expect(body.output_config).toEqual({ format: { type: 'json_schema', schema } });
    else if (provider === 'gemini') expect(body.generationConfig.responseJsonSchema).toEqual(schema);
    else if (provider === 'ollama') expect(body.format).toEqual(schema);
    else expect(body.response_format.json_schema.schema).toEqual(schema);
  });

  if (provider !== 'ollama')
    it(`cached prompt tokens are reported ${proves(provider, 'cached tokens')}`, async () => {
      const res = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'a b c d e f g\nmock:{"text":"ok","cached_tokens":3}' }],
      });
      expect(res.usage!.prompt_tokens_details?.cached_tokens).toBe(3);
      expect(res.usage!.prompt_tokens).toBeGreaterThan(3);
    });

  // A local Ollama has no rate limits and sends no retry hints.
  const retryClaim = provider === 'ollama' ? [] : (['retry hints'] as const);
  it(`upstream errors become OpenAI errors with fitting status and retry hint ${proves(provider, 'error mapping', ...retryClaim)}`, async () => {
    const err = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":429,"retry_after":7,"message":"slow down"}}' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as Error).message).toContain('slow down');
    if (provider !== 'ollama') expect((err as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBe('7');
    const bad = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":400,"message":"bad thing"}}' }] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as Error).message).toContain('bad thing');
    // The provider rejecting *our* key is not the client's fault.
    const auth = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":403,"message":"forbidden"}}' }] })
      .catch((e: unknown) => e);
    expect((auth as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    if (provider === 'anthropic') {
      const overloaded = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":529}}' }] })
        .catch((e: unknown) => e);
      expect((overloaded as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    }
  });

  it(`a failure after the stream started ends it with an error, never a silent success ${proves(provider, 'mid-stream errors')}`, async () => {
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      messages: [{ role: 'user', content: 'x\nmock:{"tokens":6,"error":{"status":500,"message":"upstream broke","after_tokens":3}}' }],
    });
    let text = '';
    const failure = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toBe('tok0 tok1 tok2');
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error).message)).toMatch(/upstream broke|error/i);
  });

  if (provider === 'gemini' || provider === 'ollama' || provider === 'openai')
    it(`embeddings, base64 (the SDK default) and float ${proves(provider, 'embeddings')}`, async () => {
      const emb = await client.embeddings.create({ model: `${provider}/embed-model`, input: ['alpha', 'beta'], dimensions: 8 });
      expect(emb.data.map((d) => d.embedding.length)).toEqual([8, 8]);
      expect(Math.hypot(...emb.data[0]!.embedding)).toBeCloseTo(1, 4);
      const floats = await client.embeddings.create({
        model: `${provider}/embed-model`,
        input: 'alpha',
        dimensions: 8,
        encoding_format: 'float',
      });
      floats.data[0]!.embedding.forEach((v, i) => expect(v).toBeCloseTo(emb.data[0]!.embedding[i]!, 5));
    });
  else
    it(`embeddings are refused with model_not_found`, async () => {
      const err = await client.embeddings.create({ model: `${provider}/embed-model`, input: 'alpha' }).catch((e: unknown) => e);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
      expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
    });
});
