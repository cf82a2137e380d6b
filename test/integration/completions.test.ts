// Legacy POST /v1/completions through the official openai SDK (`client.completions`), served through
// chat: OpenAI and Anthropic (simulated upstreams), JSON and streamed, several prompts, and the
// fields chat cannot honour refused with a 400 naming them.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({
    env: { WORKER_MAX_RETRIES: '0' },
    providerEnv: (mock) => ({ ANTHROPIC_BASE_URL: `${mock}/anthropic`, ANTHROPIC_API_KEY: 'sk-ant-test' }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => stack?.close());

async function collect(stream: AsyncIterable<OpenAI.Completion>) {
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  const objects = new Set<string>();
  for await (const c of stream) {
    objects.add(c.object);
    for (const choice of c.choices) {
      text += choice.text;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (c.usage) usage = c.usage;
  }
  return { text, finish, usage, objects: [...objects] };
}

describe.each(['openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5'])('client.completions on %s', (model) => {
  it('JSON: the text_completion shape with text, finish reason and usage', async () => {
    const { data, response } = await client.completions
      .create({ model, prompt: 'Say this is a test\nmock:{"text":"this is a test"}', max_tokens: 50, temperature: 0, stop: ['\n\n'] })
      .withResponse();
    expect(data).toEqual({
      id: expect.stringMatching(/^cmpl-/),
      object: 'text_completion',
      created: expect.any(Number),
      model,
      choices: [{ text: 'this is a test', index: 0, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: expect.any(Number), completion_tokens: 4, total_tokens: expect.any(Number) },
      system_fingerprint: null,
    });
    expect(response.headers.get('x-switchyard-provider')).toBe(model.slice(0, model.indexOf('/')));
    await waitForUsageRow(stack.db, response.headers.get('x-request-id')!);
  });

  it('streamed: text_completion chunks carrying the text, then the finish reason, usage and [DONE]', async () => {
    const { data: stream, response } = await client.completions
      .create({
        model,
        prompt: 'count\nmock:{"tokens":6,"itl_ms":1}',
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    // The same who-answered head as a streamed chat completion (answer-headers.ts).
    expect(response.headers.get('x-switchyard-provider')).toBe(model.slice(0, model.indexOf('/')));
    expect(response.headers.get('x-switchyard-attempts')).toBe('1');
    const got = await collect(stream);
    expect(got.objects).toEqual(['text_completion']);
    expect(got.text).toBe('tok0 tok1 tok2 tok3 tok4 tok5');
    expect(got.finish).toBe('stop');
    expect(got.usage).toMatchObject({ completion_tokens: 6 });
  });
});

describe('/v1/completions', () => {
  it('the prompt reaches the upstream as one user message, with the sampling fields', async () => {
    await client.completions.create({ model: 'openai/gpt-4o-mini', prompt: 'hello there', max_tokens: 7, temperature: 0.5, stop: 'END' });
    const upstream = stack.mock.requests.at(-1)!.body as Record<string, unknown>;
    expect(upstream).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello there' }],
      max_tokens: 7,
      temperature: 0.5,
      stop: 'END',
    });
  });

  it('several prompts: one choice each, in order, usage summed', async () => {
    const res = await client.completions.create({
      model: 'openai/gpt-4o-mini',
      prompt: ['one\nmock:{"text":"first answer"}', 'two\nmock:{"text":"second"}'],
    });
    expect(res.choices.map((c) => [c.index, c.text])).toEqual([
      [0, 'first answer'],
      [1, 'second'],
    ]);
    expect(res.usage!.completion_tokens).toBe(3);
  });

  it.each([
    ['echo', { echo: true }],
    ['logprobs', { logprobs: 2 }],
    ['best_of', { best_of: 3 }],
    ['suffix', { suffix: 'after' }],
  ])('refuses %s with a 400 naming it', async (param, extra) => {
    const calls = stack.mock.stats.requests;
    const err = await client.completions.create({ model: 'openai/gpt-4o-mini', prompt: 'x', ...extra }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param, code: 'unsupported_parameter' });
    expect(stack.mock.stats.requests).toBe(calls);
  });

  it('refuses token-id prompts and a missing prompt, naming prompt', async () => {
    for (const prompt of [[1, 2, 3], undefined]) {
      const res = await fetch(`${stack.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', prompt }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe('prompt');
    }
  });

  it('an upstream error before the answer is an HTTP error in the OpenAI envelope', async () => {
    const err = await client.completions
      .create({ model: 'openai/gpt-4o-mini', prompt: 'x\nmock:{"error":{"status":400,"message":"bad things"}}' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  });

  // Last in the file: the 429 leaves the upstream key cooling for retry_after (upstream-keys.ts).
  it('an upstream 429 is a 429 with its retry-after, as on chat completions', async () => {
    const err = await client.completions
      .create({ model: 'openai/gpt-4o-mini', prompt: 'x\nmock:{"error":{"status":429,"retry_after":1}}' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBe('1');
  });
});
