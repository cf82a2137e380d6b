// The official openai SDK's Responses API through Switchyard, against the OpenAI, Anthropic and
// Gemini simulators: JSON and typed SSE events, a function tool round trip, previous_response_id
// chaining (the upstream must receive the earlier turns), retrieve/delete, tenancy, the ledger, and
// the 400s for what the chat path cannot honour.
import { sql } from 'kysely';
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpiredResponses } from '../../shared/db/responses.ts';
import { createKey, createTenant } from '../../shared/db/tenants.ts';
import { waitFor } from '../harness/ports.ts';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

let stack: Stack;
let client: OpenAI;
let otherTenant: OpenAI;

const MODELS = { openai: 'openai/gpt-4o-mini', anthropic: 'anthropic/claude-sonnet-4-5', gemini: 'gemini/gemini-2.5-flash' } as const;
const UPSTREAM_PATH = {
  openai: /^\/v1\/chat\/completions$/,
  anthropic: /^\/anthropic\/v1\/messages$/,
  gemini: /^\/gemini\/v1beta\/models\//,
};

beforeAll(async () => {
  stack = await startStack({
    env: { WORKER_MAX_RETRIES: '0' },
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
    }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
  const tenant = await createTenant(stack.db, { name: 'other' });
  otherTenant = new OpenAI({ apiKey: (await createKey(stack.db, tenant.id, {}))!.key, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => stack?.close());

/** The last request the simulator received on a provider's path, as JSON text. */
function lastUpstream(provider: keyof typeof MODELS): { body: unknown; text: string } {
  const req = stack.mock.requests.filter((r) => UPSTREAM_PATH[provider].test(r.path)).at(-1)!;
  expect(req, `an upstream ${provider} request`).toBeDefined();
  return { body: req.body, text: JSON.stringify(req.body) };
}

async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const events: ResponseStreamEvent[] = [];
  for await (const ev of stream) events.push(ev);
  return events;
}

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Current weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};
const callWeather = 'mock:{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}';

describe('Responses API through Switchyard (openai SDK)', () => {
  it('non-streaming: text, instructions as the system turn, usage in the Responses shape, the ledger row', async () => {
    const res = await client.responses.create({
      model: MODELS.openai,
      instructions: 'be brief',
      input: 'say three words\nmock:{"text":"one two three"}',
      metadata: { ticket: 't-1' },
      max_output_tokens: 50,
      temperature: 0.2,
    });
    expect(res.object).toBe('response');
    expect(res.id).toMatch(/^resp_/);
    expect(res.status).toBe('completed');
    expect(res.output_text).toBe('one two three');
    expect(res.output).toHaveLength(1);
    expect(res.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
    expect(res.metadata).toEqual({ ticket: 't-1' });
    expect(res.usage!.output_tokens).toBe(3);
    expect(res.usage!.input_tokens).toBeGreaterThan(0);
    expect(res.usage!.total_tokens).toBe(res.usage!.input_tokens + 3);
    expect(res.usage!.input_tokens_details).toEqual({ cached_tokens: 0 });
    expect(res.usage!.output_tokens_details).toEqual({ reasoning_tokens: 0 });
    const up = lastUpstream('openai').body as { messages: Array<{ role: string; content: unknown }>; max_completion_tokens: number };
    expect(up.messages[0]).toEqual({ role: 'system', content: 'be brief' });
    expect(up.messages[1]!.role).toBe('user');
    expect(up.max_completion_tokens).toBe(50);
    // Same ledger as chat completions: one usage row under the request id the response id is made of.
    const row = await waitForUsageRow(stack.db, `req_${res.id.slice(5)}`);
    expect(row).toMatchObject({ kind: 'chat', status: 'ok', output_tokens: 3, input_tokens: res.usage!.input_tokens });
  });

  it('streaming: the typed event sequence with sequence numbers, ending in response.completed', async () => {
    const events = await collect(
      await client.responses.create({ model: MODELS.openai, input: 'count\nmock:{"tokens":4,"itl_ms":2}', stream: true }),
    );
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const types = events.map((e) => e.type);
    // The worker may coalesce tokens into fewer deltas; compare with runs of deltas collapsed.
    expect(types.filter((t) => t === 'response.output_text.delta').length).toBeGreaterThanOrEqual(1);
    expect(types.filter((t, i) => t !== 'response.output_text.delta' || types[i - 1] !== t)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(text).toBe('tok0 tok1 tok2 tok3');
    const done = events.at(-1)!;
    if (done.type !== 'response.completed') throw new Error('no response.completed');
    expect(done.response.output_text ?? done.response.output.flatMap((o) => (o.type === 'message' ? o.content : []))).toBeTruthy();
    expect(done.response.usage!.output_tokens).toBe(4);
    // The stored response is the completed one.
    const stored = await client.responses.retrieve(done.response.id);
    expect(stored.status).toBe('completed');
    expect(stored.output_text).toBe(text);
  });

  it('streaming with the SDK helper: finalResponse()', async () => {
    const stream = client.responses.stream({ model: MODELS.openai, input: 'hi\nmock:{"text":"hello there"}' });
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('hello there');
  });

  for (const provider of ['openai', 'anthropic', 'gemini'] as const) {
    it(`${provider}: function tool round trip with previous_response_id, then a chained turn`, async () => {
      const model = MODELS[provider];
      // Turn 1 (streamed): the model calls the tool.
      const events = await collect(
        await client.responses.create({ model, input: `weather in Paris?\n${callWeather}`, tools: [weatherTool], stream: true }),
      );
      const types = events.map((e) => e.type);
      expect(types).toContain('response.function_call_arguments.delta');
      expect(types).toContain('response.function_call_arguments.done');
      const done = events.at(-1)!;
      if (done.type !== 'response.completed') throw new Error(`ended with ${done.type}`);
      const call = done.response.output.find((o) => o.type === 'function_call');
      if (call?.type !== 'function_call') throw new Error('no function_call item');
      expect(call.name).toBe('get_weather');
      expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
      const argsDone = events.find((e) => e.type === 'response.function_call_arguments.done');
      expect(argsDone).toMatchObject({ name: 'get_weather', arguments: call.arguments });
      // The upstream saw the tool in its own shape.
      expect(lastUpstream(provider).text).toContain('get_weather');

      // Turn 2: the tool's result, chained on turn 1; the upstream must receive turn 1's call.
      const second = await client.responses.create({
        model,
        previous_response_id: done.response.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21C' }],
        tools: [weatherTool],
      });
      expect(second.status).toBe('completed');
      expect(second.previous_response_id).toBe(done.response.id);
      // The simulator quotes the tool result as its provider received it (Gemini: a functionResponse object).
      expect(second.output_text).toMatch(/^tool results: .*sunny, 21C/);
      const up2 = lastUpstream(provider).text;
      expect(up2).toContain('weather in Paris?');
      expect(up2).toContain('Paris'); // the call's arguments
      expect(up2).toContain('sunny, 21C');

      // Turn 3: plain chaining; the upstream gets every earlier turn, including turn 2's answer.
      const third = await client.responses.create({
        model,
        previous_response_id: second.id,
        input: 'and tomorrow?\nmock:{"text":"rain later"}',
      });
      expect(third.output_text).toBe('rain later');
      const up3 = lastUpstream(provider).text;
      for (const turn of ['weather in Paris?', 'sunny, 21C', 'tool results: ', 'and tomorrow?']) expect(up3).toContain(turn);
      expect(up3).toContain(JSON.stringify(second.output_text).slice(1, -1));
    });
  }

  it('groq, xai, ollama and mistral: JSON, then a chained stream that replays the first turn', async () => {
    const models = ['groq/llama-3.3-70b-versatile', 'xai/grok-3-mini', 'ollama/llama3.2', 'mistral/mistral-small-latest'];
    for (const model of models) {
      const first = await client.responses.create({ model, input: 'first question\nmock:{"text":"first answer"}' });
      expect(first.output_text, model).toBe('first answer');
      expect(first.usage!.output_tokens, model).toBeGreaterThan(0);
      const events = await collect(
        await client.responses.create({
          model,
          previous_response_id: first.id,
          input: 'second\nmock:{"text":"second answer"}',
          stream: true,
        }),
      );
      const done = events.at(-1)!;
      if (done.type !== 'response.completed') throw new Error(`${model} ended with ${done.type}`);
      expect(events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join(''), model).toBe('second answer');
      const upstream = JSON.stringify(stack.mock.requests.at(-1)!.body);
      for (const turn of ['first question', 'first answer', 'second']) expect(upstream, model).toContain(turn);
    }
  });

  it('input items: messages with input_text and input_image, an assistant turn, developer role', async () => {
    const png = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const res = await client.responses.create({
      model: MODELS.openai,
      input: [
        { role: 'developer', content: 'answer in one word' },
        { role: 'user', content: 'earlier question' },
        {
          type: 'message',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'earlier answer', annotations: [] }],
          id: 'msg_1',
          status: 'completed',
        },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'what is this?\nmock:{"text":"pixel"}' },
            { type: 'input_image', image_url: png, detail: 'low' },
          ],
        },
      ],
    });
    expect(res.output_text).toBe('pixel');
    const up = lastUpstream('openai').body as { messages: Array<{ role: string; content: unknown }> };
    expect(up.messages.map((m) => m.role)).toEqual(['developer', 'user', 'assistant', 'user']);
    expect(up.messages[2]!.content).toBe('earlier answer');
    expect(up.messages[3]!.content).toEqual([
      { type: 'text', text: 'what is this?\nmock:{"text":"pixel"}' },
      { type: 'image_url', image_url: { url: png, detail: 'low' } },
    ]);
  });

  it('reasoning: effort reaches the upstream; the answer has a reasoning item, streamed as summary deltas', async () => {
    const input = 'think\nmock:{"text":"42","reasoning":"six times seven"}';
    const res = await client.responses.create({ model: MODELS.openai, input, reasoning: { effort: 'low' } });
    expect((lastUpstream('openai').body as { reasoning_effort: string }).reasoning_effort).toBe('low');
    expect(res.output.map((o) => o.type)).toEqual(['reasoning', 'message']);
    const reasoning = res.output[0]!;
    if (reasoning.type !== 'reasoning') throw new Error('no reasoning item');
    expect(reasoning.summary).toEqual([{ type: 'summary_text', text: 'six times seven' }]);
    expect(res.usage!.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    // Chained, the answer is replayed but its reasoning is not: OpenAI rejects reasoning on messages.
    await client.responses.create({ model: MODELS.openai, previous_response_id: res.id, input: 'next\nmock:{"text":"ok"}' });
    const replay = lastUpstream('openai').body as { messages: Array<Record<string, unknown>> };
    expect(replay.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(replay.messages[1]).toEqual({ role: 'assistant', content: '42' });

    const events = await collect(
      await client.responses.create({ model: MODELS.openai, input, reasoning: { effort: 'low' }, stream: true }),
    );
    const summary = events.flatMap((e) => (e.type === 'response.reasoning_summary_text.delta' ? [e.delta] : [])).join('');
    expect(summary).toBe('six times seven');
    const firstText = events.findIndex((e) => e.type === 'response.output_text.delta');
    const reasoningDone = events.findIndex((e) => e.type === 'response.output_item.done');
    expect(reasoningDone).toBeGreaterThan(0);
    expect(reasoningDone).toBeLessThan(firstText); // the reasoning item closes before the message opens

    // Anthropic has extended thinking: the effort becomes a thinking budget.
    await client.responses.create({ model: MODELS.anthropic, input: 'think\nmock:{"text":"ok"}', reasoning: { effort: 'low' } });
    expect((lastUpstream('anthropic').body as { thinking?: { type: string } }).thinking?.type).toBe('enabled');
  });

  it('text.format json_schema and tool_choice map to the chat request', async () => {
    await client.responses.create({
      model: MODELS.openai,
      input: 'json please\nmock:{"text":"{\\"a\\":1}"}',
      text: {
        format: { type: 'json_schema', name: 'thing', schema: { type: 'object', properties: { a: { type: 'number' } } }, strict: true },
      },
      tools: [weatherTool],
      tool_choice: { type: 'function', name: 'get_weather' },
    });
    const up = lastUpstream('openai').body as Record<string, unknown>;
    expect(up.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'thing', schema: { type: 'object', properties: { a: { type: 'number' } } }, strict: true },
    });
    expect(up.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    expect(up.tools).toEqual([
      {
        type: 'function',
        function: { name: 'get_weather', description: weatherTool.description, parameters: weatherTool.parameters, strict: false },
      },
    ]);
  });

  it('retrieve and delete are tenant-scoped; another tenant gets 404 for both', async () => {
    const res = await client.responses.create({ model: MODELS.openai, input: 'keep me\nmock:{"text":"kept"}' });
    const got = await client.responses.retrieve(res.id);
    expect(got.id).toBe(res.id);
    expect(got.output_text).toBe('kept');

    const foreignGet = await otherTenant.responses.retrieve(res.id).catch((e: unknown) => e);
    expect(foreignGet).toBeInstanceOf(OpenAI.NotFoundError);
    const foreignDelete = await otherTenant.responses.delete(res.id).catch((e: unknown) => e);
    expect(foreignDelete).toBeInstanceOf(OpenAI.NotFoundError);
    const foreignChain = await otherTenant.responses
      .create({ model: MODELS.openai, previous_response_id: res.id, input: 'x' })
      .catch((e: unknown) => e);
    expect(foreignChain).toBeInstanceOf(OpenAI.NotFoundError);
    expect((foreignChain as InstanceType<typeof OpenAI.APIError>).param).toBe('previous_response_id');

    const streamed = await client.responses.retrieve(res.id, { stream: true }).catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(OpenAI.BadRequestError);
    expect((streamed as InstanceType<typeof OpenAI.APIError>).param).toBe('stream');

    await client.responses.delete(res.id);
    const gone = await client.responses.retrieve(res.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect((gone as InstanceType<typeof OpenAI.APIError>).code).toBe('response_not_found');
  });

  it("the tenant's limits apply as on chat: with rpm 1 the second response is a 429", async () => {
    const tenant = await createTenant(stack.db, { name: 'limited', limits: { rpm: 1 } });
    const limited = new OpenAI({ apiKey: (await createKey(stack.db, tenant.id, {}))!.key, baseURL: `${stack.url}/v1`, maxRetries: 0 });
    const first = await limited.responses.create({ model: MODELS.openai, input: 'one\nmock:{"text":"ok"}' });
    expect(first.output_text).toBe('ok');
    const second = await limited.responses.create({ model: MODELS.openai, input: 'two\nmock:{"text":"ok"}' }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(OpenAI.RateLimitError);
  });

  it("the key's model policy applies as on chat", async () => {
    const tenant = await createTenant(stack.db, { name: 'narrow' });
    const key = (await createKey(stack.db, tenant.id, { allowed_models: ['anthropic/*'] }))!.key;
    const narrow = new OpenAI({ apiKey: key, baseURL: `${stack.url}/v1`, maxRetries: 0 });
    const refused = await narrow.responses.create({ model: MODELS.openai, input: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).param).toBe('model');
    const allowed = await narrow.responses.create({ model: MODELS.anthropic, input: 'x\nmock:{"text":"fine"}' });
    expect(allowed.output_text).toBe('fine');
  });

  it('store: false is not kept: not retrievable, not chainable', async () => {
    const res = await client.responses.create({ model: MODELS.openai, input: 'forget me\nmock:{"text":"gone"}', store: false });
    expect((res as unknown as { store: boolean }).store).toBe(false);
    expect(await client.responses.retrieve(res.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const chained = await client.responses
      .create({ model: MODELS.openai, previous_response_id: res.id, input: 'x' })
      .catch((e: unknown) => e);
    expect(chained).toBeInstanceOf(OpenAI.NotFoundError);
    expect((chained as InstanceType<typeof OpenAI.APIError>).code).toBe('previous_response_not_found');
  });

  it('expired responses are hidden and purged', async () => {
    const res = await client.responses.create({ model: MODELS.openai, input: 'short-lived\nmock:{"text":"x"}' });
    const purged = await purgeExpiredResponses(
      stack.db,
      new Date(Date.now() + (stack.runtime.config.RESPONSES_RETENTION_SECONDS + 1) * 1000),
    );
    expect(purged).toBeGreaterThanOrEqual(1);
    const row = await stack.db.selectFrom('responses').select('id').where('id', '=', res.id).executeTakeFirst();
    expect(row).toBeUndefined();
    expect(await client.responses.retrieve(res.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('unsupported features answer 400 naming the field, before anything reaches the upstream', async () => {
    const before = stack.mock.requests.length;
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ tools: [{ type: 'web_search' }] }, 'tools[0].type', 'unsupported_parameter'],
      [{ tools: [weatherTool, { type: 'file_search', vector_store_ids: ['vs_1'] }] }, 'tools[1].type', 'unsupported_parameter'],
      [{ background: true }, 'background', 'unsupported_parameter'],
      [{ conversation: 'conv_1' }, 'conversation', 'unsupported_parameter'],
      [{ tool_choice: { type: 'web_search_preview' } }, 'tool_choice.type', 'unsupported_parameter'],
      [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type', 'unsupported_parameter'],
      [
        { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] },
        'input[0].content[0].type',
        'unsupported_parameter',
      ],
      [{ include: ['reasoning.encrypted_content'] }, 'include', 'invalid_value'],
      [{ frobnicate: 1 }, 'frobnicate', 'unknown_parameter'],
      [{ temperature: 3 }, 'temperature', 'invalid_value'],
      [{ input: [{ type: 'function_call_output', output: 'x' }] }, 'input[0].call_id', 'missing_required_parameter'],
    ];
    for (const [extra, param, code] of cases) {
      const body = { model: MODELS.openai, input: 'hi', ...extra } as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming;
      const err = await client.responses.create(body).catch((e: unknown) => e);
      expect(err, JSON.stringify(extra)).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.APIError>).param, JSON.stringify(extra)).toBe(param);
      expect((err as InstanceType<typeof OpenAI.APIError>).code, JSON.stringify(extra)).toBe(code);
    }
    expect(stack.mock.requests.length).toBe(before);
  });

  it('a client that drops the stream cancels the upstream call; usage is recorded as cancelled', async () => {
    const abortedBefore = stack.mock.stats.aborted;
    const ac = new AbortController();
    const res = await fetch(`${stack.url}/v1/responses`, {
      method: 'POST',
      signal: ac.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({ model: MODELS.openai, stream: true, input: 'long\nmock:{"tokens":1000,"itl_ms":20}' }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const requestId = res.headers.get('x-request-id')!;
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    ac.abort();
    // Well before the 20 s the answer would take.
    await waitFor(() => stack.mock.stats.aborted > abortedBefore, { timeoutMs: 5_000, what: 'upstream aborted' });
    expect((await waitForUsageRow(stack.db, requestId)).status).toBe('cancelled');
  });

  it('a response that cannot be stored is not reported as a success (JSON: 500, stream: response.failed)', async () => {
    await sql`alter table responses rename to responses_away`.execute(stack.db);
    try {
      const err = await client.responses.create({ model: MODELS.openai, input: 'x\nmock:{"text":"lost"}' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('response_not_stored');
      const events = await collect(await client.responses.create({ model: MODELS.openai, input: 'x\nmock:{"text":"lost"}', stream: true }));
      expect(events.at(-1)).toMatchObject({ type: 'response.failed', response: { error: { code: 'response_not_stored' } } });
      // store: false needs no storage and still answers.
      expect((await client.responses.create({ model: MODELS.openai, input: 'x\nmock:{"text":"fine"}', store: false })).output_text).toBe(
        'fine',
      );
    } finally {
      await sql`alter table responses_away rename to responses`.execute(stack.db);
    }
  });

  it('an upstream error before any token is a plain HTTP error; the SDK sees its status', async () => {
    const err = await client.responses
      .create({ model: MODELS.openai, input: 'x\nmock:{"error":{"status":400,"message":"bad thing"}}', stream: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('an upstream failure mid-stream ends with response.failed', async () => {
    const events = await collect(
      await client.responses.create({
        model: MODELS.openai,
        input: 'x\nmock:{"tokens":5,"error":{"status":500,"after_tokens":2}}',
        stream: true,
      }),
    );
    const last = events.at(-1)!;
    expect(last.type).toBe('response.failed');
    if (last.type !== 'response.failed') return;
    expect(last.response.status).toBe('failed');
    expect(last.response.error?.message).toBeTruthy();
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(text).toBe('tok0 tok1');
    // The open message item was closed as incomplete before response.failed.
    expect(events.find((e) => e.type === 'response.output_item.done')).toMatchObject({ item: { type: 'message', status: 'incomplete' } });
  });
});
