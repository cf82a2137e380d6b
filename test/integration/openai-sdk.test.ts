// The official openai SDK against Switchyard, through real NATS and Postgres, with the upstream set
// by OPENAI_BASE_URL: chat (streaming and not, usage included) and embeddings.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ env: { WORKER_MAX_RETRIES: '0' } });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => stack?.close());

describe('openai SDK through Switchyard', () => {
  it('chat, non-streaming: text, finish reason and the upstream token counts', async () => {
    const res = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'say three words\nmock:{"text":"one two three"}' },
      ],
    });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('openai/gpt-4o-mini');
    expect(res.choices[0]!.message.content).toBe('one two three');
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage).toMatchObject({ completion_tokens: 3 });
    expect(res.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + 3);
    // The upstream saw its own model name, not the routed one.
    const upstream = stack.mock.requests.at(-1)!;
    expect((upstream.body as { model: string }).model).toBe('gpt-4o-mini');
    expect(upstream.headers.authorization).toBe('Bearer sk-upstream-test');
  });

  it('chat, streaming with include_usage: every token in order, then finish, then usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'count\nmock:{"tokens":20,"itl_ms":2}' }],
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices[0]?.delta.content) text += chunk.choices[0].delta.content;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(Array.from({ length: 20 }, (_, i) => `tok${i}`).join(' '));
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: 20 });
    expect(chunks).toBeGreaterThanOrEqual(22);
  });

  it('chat, streaming without include_usage: no usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      stream: true,
      messages: [{ role: 'user', content: 'hi\nmock:{"tokens":2}' }],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('tok0 tok1');
  });

  it('tool calls relay with parsed arguments, streaming and not', async () => {
    const directive =
      'mock:{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"get_time","arguments":{"tz":"CET"}}]}';
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      },
      { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
    ];
    const res = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      tools,
      messages: [{ role: 'user', content: `weather?\n${directive}` }],
    });
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    const calls = res.choices[0]!.message.tool_calls!.map((t) =>
      t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : null,
    );
    expect(calls).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', { tz: 'CET' }],
    ]);

    const stream = client.chat.completions.stream({
      model: 'openai/gpt-4o-mini',
      tools,
      messages: [{ role: 'user', content: `weather?\n${directive}` }],
    });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.choices[0]!.message.tool_calls!.map((t) => (t.type === 'function' ? JSON.parse(t.function.arguments) : null))).toEqual([
      { city: 'Paris' },
      { tz: 'CET' },
    ]);
  });

  it('embeddings', async () => {
    const res = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: ['alpha', 'beta'] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(res.data[0]!.embedding).not.toEqual(res.data[1]!.embedding);
    expect(res.usage.prompt_tokens).toBe(2);
  });

  it('upstream errors arrive as OpenAI errors with status and retry-after', async () => {
    const err = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":429,"retry_after":7}}' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBe('7');
    const bad = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":400,"message":"nope"}}' }] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as Error).message).toContain('nope');
  });

  it('an upstream connection dropped mid-stream ends the stream with an error, not a silent success', async () => {
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      stream: true,
      messages: [{ role: 'user', content: 'x\nmock:{"tokens":10,"itl_ms":20,"drop_after":3}' }],
    });
    let text = '';
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toBe('tok0 tok1 tok2');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/upstream/i);
  });

  it('leaves exactly one usage row per request with the upstream token counts', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'count me\nmock:{"tokens":5}' }] })
      .withResponse();
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toMatch(/^req_/);
    const row = await waitForUsageRow(stack.db, requestId);
    expect(row).toMatchObject({
      status: 'ok',
      provider: 'openai',
      upstream_model: 'gpt-4o-mini',
      input_tokens: data.usage!.prompt_tokens,
      output_tokens: 5,
    });
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
  });
});
