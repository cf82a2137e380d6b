// Fidelity of the simulator: each provider's official SDK talks to it directly, streaming and not,
// and must accept every answer (framing, event names, usage placement, error shapes).
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { Mistral } from '@mistralai/mistralai';
import { HTTPValidationError, MistralError } from '@mistralai/mistralai/models/errors';
import Groq from 'groq-sdk';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProviders, type MockProviders } from '../../services/mock-providers/server.ts';

let mock: MockProviders;
beforeAll(async () => {
  mock = await startMockProviders();
});
afterAll(async () => mock?.close());

const TOOLS_DIRECTIVE = 'mock:{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"get_time","arguments":{}}]}';

describe('@anthropic-ai/sdk against the Anthropic simulator', () => {
  const client = () => new Anthropic({ apiKey: 'k', baseURL: `${mock.url}/anthropic`, maxRetries: 0 });

  it('messages.create: text, stop reason, usage', async () => {
    const msg = await client().messages.create({
      model: 'claude-x',
      max_tokens: 100,
      system: 'be brief',
      messages: [{ role: 'user', content: 'hi\nmock:{"text":"hello there"}' }],
    });
    expect(msg.content).toEqual([{ type: 'text', text: 'hello there' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage.output_tokens).toBe(2);
  });

  it('messages.stream: text deltas, thinking and tool_use assembled by the SDK', async () => {
    const stream = client().messages.stream({
      model: 'claude-x',
      max_tokens: 3000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [
        {
          role: 'user',
          content: `go\nmock:{"text":"a b c","reasoning":"think hard","tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"noop","arguments":{}}]}`,
        },
      ],
    });
    let text = '';
    stream.on('text', (t) => (text += t));
    const final = await stream.finalMessage();
    expect(text).toBe('a b c');
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use', 'tool_use']);
    expect(final.content.filter((b) => b.type === 'tool_use').map((b) => (b as Anthropic.ToolUseBlock).input)).toEqual([
      { city: 'Paris' },
      {},
    ]);
    expect(final.stop_reason).toBe('tool_use');
  });

  it('errors: typed SDK errors with retry-after; mid-stream error event', async () => {
    const err = await client()
      .messages.create({ model: 'c', max_tokens: 10, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":529}}' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect(((err as InstanceType<typeof Anthropic.APIError>).error as { error: { type: string } }).error.type).toBe('overloaded_error');
    const mid = client().messages.stream({
      model: 'c',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x\nmock:{"tokens":5,"error":{"status":529,"after_tokens":2}}' }],
    });
    await expect(mid.finalMessage()).rejects.toThrow(/simulated error 529|overloaded/i);
  });

  it('rejects what Anthropic rejects: consecutive same-role turns, missing max_tokens', async () => {
    const bad = await client()
      .messages.create({
        model: 'c',
        max_tokens: 10,
        messages: [
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
        ],
      })
      .catch((e: unknown) => e);
    expect((bad as InstanceType<typeof Anthropic.APIError>).status).toBe(400);
  });
});

describe('@google/genai against the Gemini simulator', () => {
  const client = () => new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: `${mock.url}/gemini`, apiVersion: 'v1beta' } });

  it('generateContent: text, finish reason, usage', async () => {
    const res = await client().models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'hi\nmock:{"text":"hello gemini"}',
      config: { systemInstruction: 'be brief' },
    });
    expect(res.text).toBe('hello gemini');
    expect(res.candidates![0]!.finishReason).toBe('STOP');
    expect(res.usageMetadata!.candidatesTokenCount).toBe(2);
  });

  it('generateContentStream (alt=sse, CRLF): text chunks, then whole function calls', async () => {
    const stream = await client().models.generateContentStream({ model: 'gemini-3-pro-preview', contents: `x\n${TOOLS_DIRECTIVE}` });
    const calls: unknown[] = [];
    let finish: string | undefined;
    for await (const chunk of stream) {
      for (const fc of chunk.functionCalls ?? []) calls.push({ name: fc.name, args: fc.args });
      finish = chunk.candidates?.[0]?.finishReason ?? finish;
    }
    expect(calls).toEqual([
      { name: 'get_weather', args: { city: 'Paris' } },
      { name: 'get_time', args: {} },
    ]);
    expect(finish).toBe('STOP');
    const text = await client().models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'x\nmock:{"tokens":4}' });
    let all = '';
    for await (const c of text) all += c.text ?? '';
    expect(all).toBe('tok0 tok1 tok2 tok3');
  });

  it('errors carry Google status and RetryInfo; embeddings', async () => {
    const err = await client()
      .models.generateContent({ model: 'gemini-2.5-flash', contents: 'x\nmock:{"error":{"status":429,"retry_after":34}}' })
      .catch((e: unknown) => e);
    expect((err as { status?: number }).status).toBe(429);
    expect((err as Error).message).toContain('RESOURCE_EXHAUSTED');
    expect((err as Error).message).toContain('34s');
    const emb = await client().models.embedContent({
      model: 'gemini-embedding-001',
      contents: ['a', 'b'],
      config: { outputDimensionality: 4 },
    });
    expect(emb.embeddings!.map((e) => e.values!.length)).toEqual([4, 4]);
  });
});

describe('groq-sdk against the Groq simulator', () => {
  const client = () => new Groq({ apiKey: 'k', baseURL: `${mock.url}/groq`, maxRetries: 0 });

  it('chat, non-streaming and streaming with x_groq usage and reasoning', async () => {
    const res = await client().chat.completions.create({
      model: 'llama',
      messages: [{ role: 'user', content: 'x\nmock:{"text":"hi groq","reasoning":"r"}' }],
    });
    expect(res.choices[0]!.message.content).toBe('hi groq');
    expect(res.choices[0]!.message.reasoning).toBe('r');
    const stream = await client().chat.completions.create({
      model: 'llama',
      stream: true,
      messages: [{ role: 'user', content: `x\n${TOOLS_DIRECTIVE}` }],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.at(-1)!.x_groq?.usage?.completion_tokens).toBeGreaterThan(0);
    expect(chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).map((t) => t.function?.name)).toEqual(['get_weather', 'get_time']);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('errors: 429 with retry-after; mid-stream event: error surfaces as an SDK error', async () => {
    const err = await client()
      .chat.completions.create({ model: 'l', messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":429,"retry_after":3}}' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Groq.RateLimitError);
    expect((err as InstanceType<typeof Groq.APIError>).headers?.get('retry-after')).toBe('3');
    const stream = await client().chat.completions.create({
      model: 'l',
      stream: true,
      messages: [{ role: 'user', content: 'x\nmock:{"tokens":5,"error":{"status":400,"code":"tool_use_failed","after_tokens":2}}' }],
    });
    await expect(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    ).rejects.toThrow(/simulated error 400/);
  });
});

describe('openai SDK against the xAI simulator', () => {
  const client = () => new OpenAI({ apiKey: 'k', baseURL: `${mock.url}/xai/v1`, maxRetries: 0 });

  it('chat with reasoning_content, usage leaving reasoning out of completion_tokens', async () => {
    const res = await client().chat.completions.create({
      model: 'grok-3-mini',
      messages: [{ role: 'user', content: 'x\nmock:{"text":"hi","reasoning":"one two three"}' }],
    });
    expect(res.choices[0]!.message.content).toBe('hi');
    expect(res.usage!.total_tokens).toBe(
      res.usage!.prompt_tokens + res.usage!.completion_tokens + res.usage!.completion_tokens_details!.reasoning_tokens!,
    );
    const stream = await client().chat.completions.create({
      model: 'grok-3-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'x\nmock:{"tokens":3}' }],
    });
    let text = '';
    let usage;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      usage = c.usage ?? usage;
    }
    expect(text).toBe('tok0 tok1 tok2');
    expect(usage?.completion_tokens).toBe(3);
  });

  it('flat error body still reaches the SDK as an APIError with the message', async () => {
    const err = await client()
      .chat.completions.create({
        model: 'g',
        messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":400,"message":"bad arg"}}' }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toContain('bad arg');
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
  });
});

describe('ollama SDK against the Ollama simulator', () => {
  const client = () => new Ollama({ host: `${mock.url}/ollama` });

  it('chat, non-streaming and streaming NDJSON with tool calls, thinking and final counts', async () => {
    const res = await client().chat({
      model: 'qwen3',
      stream: false,
      think: true,
      messages: [{ role: 'user', content: 'x\nmock:{"text":"hi ollama","reasoning":"hmm"}' }],
    });
    expect(res.message.content).toBe('hi ollama');
    expect(res.message.thinking).toBe('hmm');
    expect(res.eval_count).toBeGreaterThan(0);
    const stream = await client().chat({ model: 'qwen3', stream: true, messages: [{ role: 'user', content: `x\n${TOOLS_DIRECTIVE}` }] });
    const calls = [];
    let last;
    for await (const part of stream) {
      calls.push(...(part.message.tool_calls ?? []));
      last = part;
    }
    expect(calls.map((c) => c.function.arguments)).toEqual([{ city: 'Paris' }, {}]);
    expect(last!.done).toBe(true);
    expect(last!.done_reason).toBe('stop');
  });

  it('errors and embeddings', async () => {
    await expect(
      client().chat({
        model: 'm',
        messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":404,"message":"model \'m\' not found"}}' }],
      }),
    ).rejects.toThrow(/not found/);
    const stream = await client().chat({
      model: 'm',
      stream: true,
      messages: [{ role: 'user', content: 'x\nmock:{"tokens":4,"error":{"status":500,"message":"model crashed","after_tokens":1}}' }],
    });
    await expect(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    ).rejects.toThrow(/model crashed/);
    const emb = await client().embed({ model: 'all-minilm', input: ['a', 'b'] });
    expect(emb.embeddings).toHaveLength(2);
  });
});

describe('@mistralai/mistralai against the Mistral simulator', () => {
  const client = (apiKey = 'mk') => new Mistral({ apiKey, serverURL: `${mock.url}/mistral`, retryConfig: { strategy: 'none' } });

  it('chat.complete: text, finish reason, usage; parallel tool calls with 9-character ids', async () => {
    const res = await client().chat.complete({
      model: 'mistral-small-latest',
      randomSeed: 7,
      safePrompt: true,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi\nmock:{"text":"bonjour le monde"}' },
      ],
    });
    expect(res.choices[0]!.message?.content).toBe('bonjour le monde');
    expect(res.choices[0]!.finishReason).toBe('stop');
    expect(res.usage).toMatchObject({ completionTokens: 3, totalTokens: res.usage.promptTokens! + 3 });
    expect(mock.requests.at(-1)!.body).toMatchObject({ random_seed: 7, safe_prompt: true });

    const tools = await client().chat.complete({
      model: 'mistral-small-latest',
      messages: [{ role: 'user', content: `go\n${TOOLS_DIRECTIVE}` }],
    });
    const calls = tools.choices[0]!.message!.toolCalls!;
    expect(calls.map((c) => c.function.name)).toEqual(['get_weather', 'get_time']);
    expect(calls.map((c) => c.id)).toEqual([expect.stringMatching(/^[A-Za-z0-9]{9}$/), expect.stringMatching(/^[A-Za-z0-9]{9}$/)]);
    expect(JSON.parse(calls[0]!.function.arguments as string)).toEqual({ city: 'Paris' });
    // The SDK sends the tool results back with those ids, which the simulator accepts.
    const next = await client().chat.complete({
      model: 'mistral-small-latest',
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: '', toolCalls: calls },
        { role: 'tool', toolCallId: calls[0]!.id!, name: 'get_weather', content: 'sunny' },
        { role: 'tool', toolCallId: calls[1]!.id!, name: 'get_time', content: 'noon' },
      ],
    });
    expect(next.choices[0]!.message?.content).toBe('tool results: sunny | noon');
  });

  it('chat.stream: deltas in order, finish and usage on the last chunk', async () => {
    const stream = await client().chat.stream({
      model: 'mistral-small-latest',
      messages: [{ role: 'user', content: 'count\nmock:{"tokens":5}' }],
    });
    let text = '';
    let finish: string | null | undefined;
    let usage: { completionTokens?: number } | undefined;
    for await (const ev of stream) {
      const choice = ev.data.choices[0];
      if (typeof choice?.delta.content === 'string') text += choice.delta.content;
      if (choice?.finishReason) finish = choice.finishReason;
      if (ev.data.usage) usage = ev.data.usage;
    }
    expect(text).toBe('tok0 tok1 tok2 tok3 tok4');
    expect(finish).toBe('stop');
    expect(usage?.completionTokens).toBe(5);
  });

  it('errors: 422 validation detail (a foreign tool call id), the flat 401 and 429, the object:error 5xx', async () => {
    const invalid = await client()
      .chat.complete({
        model: 'm',
        messages: [
          { role: 'assistant', content: '', toolCalls: [{ id: 'call_123456789', function: { name: 'f', arguments: '{}' } }] },
          { role: 'tool', toolCallId: 'call_123456789', content: 'x' },
        ],
      })
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(HTTPValidationError);
    expect(JSON.stringify((invalid as HTTPValidationError).detail)).toMatch(/length of 9/);
    for (const [directive, status] of [
      ['', 401],
      ['mock:{"error":{"status":429}}', 429],
      ['mock:{"error":{"status":503}}', 503],
    ] as const) {
      const err = await client(status === 401 ? '' : 'mk')
        .chat.complete({ model: 'm', messages: [{ role: 'user', content: `x\n${directive}` }] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MistralError);
      expect((err as MistralError).statusCode).toBe(status);
    }
  });
});
