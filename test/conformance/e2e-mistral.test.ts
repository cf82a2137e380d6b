// Mistral end to end: the official openai SDK talks to Switchyard with `mistral/<model>`; the worker's
// Mistral adapter speaks Mistral's wire format to its simulator (services/mock-providers/mistral.ts),
// which rejects what the real API rejects (unknown fields, foreign tool call ids). Usage lands in the
// ledger under the provider's name. Test names carry the capability claims they prove.
/* eslint-disable @typescript-eslint/no-explicit-any */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import type { RecordedRequest } from '../../services/mock-providers/server.ts';
import { proves } from './capabilities.ts';

const MODEL = 'mistral/mistral-small-latest';
let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({
    env: { WORKER_MAX_RETRIES: '0' },
    providerEnv: (mock) => ({ MISTRAL_BASE_URL: `${mock}/mistral/v1`, MISTRAL_API_KEY: 'mistral-test' }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => stack?.close());

function lastUpstream(): RecordedRequest & { body: Record<string, any> } {
  const r = stack.mock.requests.filter((q) => q.path === '/mistral/v1/chat/completions').at(-1);
  expect(r, 'a request reached the Mistral simulator').toBeDefined();
  return r as RecordedRequest & { body: Record<string, any> };
}

const TOOLS: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];

describe('mistral through Switchyard', () => {
  it(`system prompt, multi-turn history, text, finish reason, usage in the ledger ${proves('mistral', 'text', 'system', 'multi-turn', 'finish reasons')}`, async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: MODEL,
        max_completion_tokens: 300,
        seed: 11,
        messages: [
          { role: 'developer', content: 'be brief' },
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'first answer' },
          { role: 'user', content: 'second question\nmock:{"text":"one two three"}' },
        ],
      })
      .withResponse();
    expect(data.model).toBe(MODEL);
    expect(data.choices[0]!.message.content).toBe('one two three');
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({ completion_tokens: 3, total_tokens: data.usage!.prompt_tokens + 3 });
    const up = lastUpstream();
    expect(up.headers.authorization).toBe('Bearer mistral-test');
    expect(up.body).toMatchObject({ model: 'mistral-small-latest', max_tokens: 300, random_seed: 11, stream: false });
    expect(up.body.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    const row = await waitForUsageRow(stack.db, response.headers.get('x-request-id')!);
    expect(row).toMatchObject({
      status: 'ok',
      provider: 'mistral',
      upstream_model: 'mistral-small-latest',
      input_tokens: data.usage!.prompt_tokens,
      output_tokens: 3,
    });
  });

  it(`streams tokens in order, then finish, then usage, which the ledger records ${proves('mistral', 'streaming', 'usage in stream')}`, async () => {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: MODEL,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'count\nmock:{"tokens":12,"itl_ms":1}' }],
      })
      .withResponse();
    let content = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      content += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage) usage = c.usage;
    }
    expect(content).toBe(Array.from({ length: 12 }, (_, i) => `tok${i}`).join(' '));
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: 12, total_tokens: usage!.prompt_tokens + 12 });
    // Mistral rejects stream_options; it sends usage on its last chunk unasked.
    expect(lastUpstream().body.stream_options).toBeUndefined();
    const row = await waitForUsageRow(stack.db, response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'ok', provider: 'mistral', input_tokens: usage!.prompt_tokens, output_tokens: 12 });
  });

  it(`parallel tool calls, streaming and not; results of another provider's calls go back with Mistral-shaped ids ${proves('mistral', 'tool calls', 'parallel tools', 'tool_choice')}`, async () => {
    const directive = 'mock:{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"get_time","arguments":{}}]}';
    const res = await client.chat.completions.create({
      model: MODEL,
      tools: TOOLS,
      tool_choice: 'auto',
      messages: [{ role: 'user', content: `go\n${directive}` }],
    });
    const calls = res.choices[0]!.message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', {}],
    ]);
    expect(lastUpstream().body.tool_choice).toBe('auto');

    const stream = await client.chat.completions.create({
      model: MODEL,
      stream: true,
      tools: TOOLS,
      messages: [{ role: 'user', content: `go\n${directive}` }],
    });
    const names: string[] = [];
    for await (const c of stream)
      for (const t of c.choices[0]?.delta.tool_calls ?? []) if (t.function?.name) names[t.index] = t.function.name;
    expect(names).toEqual(['get_weather', 'get_time']);

    // A conversation started on OpenAI carries `call_…` ids, which Mistral answers with 422 unless mapped.
    const next = await client.chat.completions.create({
      model: MODEL,
      tools: TOOLS,
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_Xy12abCD34efGH56', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_Xy12abCD34efGH56', content: 'sunny' },
      ],
    });
    expect(next.choices[0]!.message.content).toBe('tool results: sunny');
    const sent = lastUpstream().body.messages;
    expect(sent[1].tool_calls[0].id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(sent[2].tool_call_id).toBe(sent[1].tool_calls[0].id);
  });

  it(`a failure after the stream started ends it with an error, never a silent success ${proves('mistral', 'mid-stream errors')}`, async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      stream: true,
      messages: [{ role: 'user', content: 'x\nmock:{"tokens":6,"error":{"status":500,"message":"upstream broke","after_tokens":3}}' }],
    });
    let text = '';
    const failure = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toBe('tok0 tok1 tok2');
    expect(String((failure as Error).message)).toMatch(/upstream broke/);
  });

  // Last: the 429 marks the key exhausted for the simulator's reset second.
  it(`upstream errors become OpenAI errors with fitting status and retry hint ${proves('mistral', 'error mapping', 'retry hints')}`, async () => {
    const bad = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":400,"message":"bad thing"}}' }] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as Error).message).toContain('bad thing');
    const auth = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":403,"message":"forbidden"}}' }] })
      .catch((e: unknown) => e);
    expect((auth as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    const limited = await client.chat.completions
      .create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":429,"retry_after":7,"message":"slow down"}}' }],
      })
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as Error).message).toContain('slow down');
    expect((limited as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBe('7');
  });
});
