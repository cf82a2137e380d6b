// The official @anthropic-ai/sdk against Switchyard's POST /v1/messages, through real NATS and
// Postgres: anthropic/* models get the client's body natively (cache_control, thinking signatures
// intact), openai/* and gemini/* get it translated, and every answer reads as an Anthropic Message.
import Anthropic from '@anthropic-ai/sdk';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

const ADMIN = 'adm-messages';
let stack: Stack;
let client: Anthropic;

beforeAll(async () => {
  stack = await startStack({
    env: { WORKER_MAX_RETRIES: '0', ADMIN_API_KEY: ADMIN },
    providerEnv: (mock) => ({
      ANTHROPIC_BASE_URL: `${mock}/anthropic`,
      ANTHROPIC_API_KEY: 'sk-ant-upstream',
      GEMINI_BASE_URL: `${mock}/gemini/v1beta`,
      GEMINI_API_KEY: 'gem-upstream',
    }),
  });
  // The SDK sends the key as x-api-key.
  client = new Anthropic({ apiKey: stack.apiKey, baseURL: stack.url, maxRetries: 0 });
});
afterAll(async () => stack?.close());

const TOOLS: Anthropic.Tool[] = [
  { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
];
const WEATHER_CALL = '"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris","days":3}}]';

/** The `event:` names of a streamed answer, read off the wire without the SDK. */
async function rawEventNames(model: string, prompt: string): Promise<string[]> {
  const res = await fetch(`${stack.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 50, stream: true, messages: [{ role: 'user', content: prompt }] }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const text = await res.text();
  expect(text).not.toContain('[DONE]');
  return [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]!);
}

function lastUpstream(pathEnd: string) {
  const r = stack.mock.requests.filter((x) => x.path.endsWith(pathEnd)).at(-1);
  if (!r) throw new Error(`no upstream request to ${pathEnd}`);
  return r;
}

describe('anthropic/* models: the native body goes upstream, the native answer comes back', () => {
  it('messages.create: a multi-turn body with cache_control and a signed thinking block reaches the upstream as sent', async () => {
    const params = {
      model: 'anthropic/claude-sonnet-4-5',
      max_tokens: 4000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'weather in Paris?', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'I should call the tool.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxsig==' },
            { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01A', content: [{ type: 'text', text: 'sunny' }] },
            { type: 'text', text: 'and so?' },
          ],
        },
      ],
      tools: TOOLS,
      some_future_field: { kept: true },
    } as unknown as Anthropic.MessageCreateParamsNonStreaming;
    const { data: msg, response } = await client.messages.create(params).withResponse();
    expect(msg.type).toBe('message');
    expect(msg.id).toMatch(/^msg_mock/);
    expect(msg.content).toEqual([{ type: 'text', text: 'tool results: [{"type":"text","text":"sunny"}]' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    expect(response.headers.get('x-switchyard-provider')).toBe('anthropic');

    const upstream = lastUpstream('/anthropic/v1/messages');
    // Only the model name changes: cache_control, the signature and unknown fields are intact.
    expect(upstream.body).toEqual({ ...params, model: 'claude-sonnet-4-5' });
    expect(upstream.headers['x-api-key']).toBe('sk-ant-upstream');
    expect(upstream.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('messages.stream: thinking with its signature, text and streamed tool input, as Anthropic sent them', async () => {
    const stream = client.messages.stream(
      {
        model: 'anthropic/claude-sonnet-4-5',
        max_tokens: 3000,
        thinking: { type: 'enabled', budget_tokens: 1024 },
        tools: TOOLS,
        messages: [{ role: 'user', content: `go\nmock:{"text":"a b c","reasoning":"think hard",${WEATHER_CALL}}` }],
      },
      { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } },
    );
    const events: string[] = [];
    const jsonDeltas: string[] = [];
    stream.on('streamEvent', (ev) => {
      events.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') jsonDeltas.push(ev.delta.partial_json);
    });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use']);
    const thinking = final.content[0] as Anthropic.ThinkingBlock;
    expect(thinking.thinking).toBe('think hard');
    expect(Buffer.from(thinking.signature, 'base64').toString()).toMatch(/^mock-signature-msg_mock/);
    expect((final.content[1] as Anthropic.TextBlock).text).toBe('a b c');
    expect((final.content[2] as Anthropic.ToolUseBlock).input).toEqual({ city: 'Paris', days: 3 });
    expect(final.stop_reason).toBe('tool_use');
    expect(jsonDeltas.join('')).toBe('{"city":"Paris","days":3}');
    expect(jsonDeltas.filter(Boolean).length).toBeGreaterThan(1); // the input arrived in pieces
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
    expect(lastUpstream('/anthropic/v1/messages').headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14');
  });

  it('raw SSE: the relayed event sequence, with ping, and no `[DONE]`', async () => {
    const names = await rawEventNames('anthropic/claude-sonnet-4-5', 'hi\nmock:{"tokens":3}');
    expect(names).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  it('count_tokens is answered by the upstream', async () => {
    const before = stack.mock.stats.byRoute['anthropic.count_tokens'] ?? 0;
    const res = await client.messages.countTokens({
      model: 'anthropic/claude-sonnet-4-5',
      system: 'one two',
      messages: [{ role: 'user', content: 'three four five' }],
    });
    expect(res.input_tokens).toBeGreaterThan(0);
    expect(stack.mock.stats.byRoute['anthropic.count_tokens']).toBe(before + 1);
    expect((lastUpstream('/count_tokens').body as { model: string }).model).toBe('claude-sonnet-4-5');
  });
});

describe('other providers: Messages translated to each native shape and back', () => {
  it('openai: create with system, text and usage; the upstream got an OpenAI chat body', async () => {
    const msg = await client.messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 50,
      system: 'be brief',
      stop_sequences: ['END'],
      messages: [{ role: 'user', content: 'say three words\nmock:{"text":"one two three"}' }],
    });
    expect(msg.model).toBe('openai/gpt-4o-mini');
    expect(msg.content).toEqual([{ type: 'text', text: 'one two three' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage.output_tokens).toBe(3);
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    const upstream = lastUpstream('/v1/chat/completions').body as Record<string, unknown>;
    expect(upstream.model).toBe('gpt-4o-mini');
    expect(upstream.messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'say three words\nmock:{"text":"one two three"}' },
    ]);
    expect(upstream.stop).toEqual(['END']);
  });

  it('openai: stream with a tool call whose input streams as input_json_delta, then the tool_result turn', async () => {
    const stream = client.messages.stream({
      model: 'openai/gpt-4o-mini',
      max_tokens: 100,
      tools: TOOLS,
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: `weather?\nmock:{${WEATHER_CALL}}` }],
    });
    let sawJsonDelta = false;
    stream.on('streamEvent', (ev) => {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') sawJsonDelta = true;
    });
    const final = await stream.finalMessage();
    expect(sawJsonDelta).toBe(true);
    expect(final.stop_reason).toBe('tool_use');
    const call = final.content.find((b) => b.type === 'tool_use')!;
    expect(call).toMatchObject({ name: 'get_weather', input: { city: 'Paris', days: 3 } });
    const sent = lastUpstream('/v1/chat/completions').body as Record<string, unknown>;
    expect(sent.tool_choice).toBe('required');
    expect(sent.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: TOOLS[0]!.input_schema } },
    ]);

    // The next turn: the tool_use goes back as an assistant tool call, the result as a tool message.
    const next = await client.messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 100,
      tools: TOOLS,
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: final.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny' }] },
      ],
    });
    expect(next.content).toEqual([{ type: 'text', text: 'tool results: sunny' }]);
    const messages = (lastUpstream('/v1/chat/completions').body as { messages: unknown[] }).messages;
    expect(messages[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: call.id, function: { name: 'get_weather' } }] });
    expect(messages[2]).toEqual({ role: 'tool', tool_call_id: call.id, content: 'sunny' });
  });

  it('openai: thinking becomes reasoning_effort upstream and the reasoning a thinking block', async () => {
    const stream = client.messages.stream({
      model: 'openai/gpt-4o-mini',
      max_tokens: 3000,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      messages: [{ role: 'user', content: 'go\nmock:{"text":"done","reasoning":"step by step"}' }],
    });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    expect((final.content[0] as Anthropic.ThinkingBlock).thinking).toBe('step by step');
    expect((final.content[1] as Anthropic.TextBlock).text).toBe('done');
    expect((lastUpstream('/v1/chat/completions').body as { reasoning_effort: string }).reasoning_effort).toBe('low');
  });

  it('raw SSE of a translated stream: the same event sequence as Anthropic sends', async () => {
    const names = await rawEventNames('openai/gpt-4o-mini', 'hi\nmock:{"tokens":3}');
    expect(names[0]).toBe('message_start');
    expect(names[1]).toBe('ping');
    expect(names.slice(2, 3)).toEqual(['content_block_start']);
    expect(names.filter((n) => n === 'content_block_delta').length).toBeGreaterThanOrEqual(1);
    expect(names.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
  });

  it('gemini: streamed text and a non-streamed tool call; the upstream got a generateContent body', async () => {
    const stream = client.messages.stream({
      model: 'gemini/gemini-2.5-flash',
      max_tokens: 100,
      system: 'be brief',
      messages: [{ role: 'user', content: 'count\nmock:{"tokens":4}' }],
    });
    let text = '';
    stream.on('text', (t) => (text += t));
    const final = await stream.finalMessage();
    expect(text).toBe('tok0 tok1 tok2 tok3');
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(4);
    const streamed = lastUpstream(':streamGenerateContent');
    expect(streamed.body).toMatchObject({
      systemInstruction: { parts: [{ text: 'be brief' }] },
      generationConfig: { maxOutputTokens: 100 },
    });

    const msg = await client.messages.create({
      model: 'gemini/gemini-2.5-flash',
      max_tokens: 100,
      tools: TOOLS,
      messages: [{ role: 'user', content: `weather?\nmock:{${WEATHER_CALL}}` }],
    });
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content).toEqual([expect.objectContaining({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris', days: 3 } })]);
    expect((lastUpstream(':generateContent').body as { tools: unknown[] }).tools).toEqual([
      { functionDeclarations: [expect.objectContaining({ name: 'get_weather' })] },
    ]);
  });

  it('images: a base64 source reaches OpenAI as a data URL', async () => {
    await client.messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'text', text: 'what is it?' },
          ],
        },
      ],
    });
    const content = (lastUpstream('/v1/chat/completions').body as { messages: Array<{ content: unknown }> }).messages[0]!.content;
    expect(content).toEqual([
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      { type: 'text', text: 'what is it?' },
    ]);
  });

  it('count_tokens for a non-Anthropic model is the local estimate, and says so', async () => {
    const { data, response } = await client.messages
      .countTokens({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'a'.repeat(350) }] })
      .withResponse();
    expect(data.input_tokens).toBe(104); // 350 / 3.5 characters per token + 4 per message
    expect(response.headers.get('x-switchyard-token-count')).toBe('estimate');
  });
});

describe('errors in Anthropic envelope and status, as the SDK classes expect', () => {
  it('a wrong key is an AuthenticationError; a bearer token is accepted too', async () => {
    const bad = new Anthropic({ apiKey: 'sk-wrong', baseURL: stack.url, maxRetries: 0 });
    const err = await bad.messages
      .create({ model: 'openai/gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });

    const bearer = new Anthropic({ apiKey: null, authToken: stack.apiKey, baseURL: stack.url, maxRetries: 0 });
    const ok = await bearer.messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x\nmock:{"text":"ok"}' }],
    });
    expect(ok.content).toEqual([{ type: 'text', text: 'ok' }]);
  });

  it('no key, or a body that is not JSON, answers in the Anthropic envelope with the request id', async () => {
    const noKey = await fetch(`${stack.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noKey.status).toBe(401);
    const body = (await noKey.json()) as { type: string; error: { type: string; message: string }; request_id: string };
    expect(body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect(body.error.message).toContain('x-api-key');
    expect(body.request_id).toBe(noKey.headers.get('request-id'));
    expect(body.request_id).toBe(noKey.headers.get('x-request-id'));

    const notJson = await fetch(`${stack.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });

    const err = await client.messages
      .create({ model: 'openai/gpt-4o-mini', messages: [] } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect((err as InstanceType<typeof Anthropic.APIError>).requestID).toMatch(/^req_/);
  });

  it('a body without max_tokens, or with a field another provider cannot take, is a BadRequestError naming it', async () => {
    const missing = await client.messages
      .create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
      } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect((missing as Error).message).toContain('max_tokens');

    const before = stack.mock.stats.requests;
    const cache = await client.messages
      .create({
        model: 'openai/gpt-4o-mini',
        max_tokens: 5,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral' } }] }],
      })
      .catch((e: unknown) => e);
    expect(cache).toBeInstanceOf(Anthropic.BadRequestError);
    expect((cache as Error).message).toContain('messages[0].content[0].cache_control');
    expect(stack.mock.stats.requests).toBe(before); // refused before any upstream call

    const topK = await client.messages
      .create({
        model: 'gemini/gemini-2.5-flash',
        max_tokens: 5,
        top_k: 5,
        messages: [{ role: 'user', content: 'x' }],
      } as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(topK).toBeInstanceOf(Anthropic.BadRequestError);
    expect((topK as Error).message).toContain("'top_k'");
  });

  // retry_after stays short: the 429 leaves the upstream key cooling that long (upstream-keys.ts), delaying the next test.
  it('an unknown model is a NotFoundError; an upstream 429 a RateLimitError with retry-after', async () => {
    const nf = await client.messages
      .create({ model: 'nosuch/model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(nf).toBeInstanceOf(Anthropic.NotFoundError);
    expect((nf as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });

    for (const model of ['anthropic/claude-sonnet-4-5', 'openai/gpt-4o-mini']) {
      const rl = await client.messages
        .create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":429,"retry_after":1}}' }] })
        .catch((e: unknown) => e);
      expect(rl).toBeInstanceOf(Anthropic.RateLimitError);
      expect((rl as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after')).toBe('1');
    }
  });

  it('an upstream 529 is the client 529 overloaded_error; a mid-stream error ends the stream with an error event', async () => {
    const over = await client.messages
      .create({
        model: 'anthropic/claude-sonnet-4-5',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":529}}' }],
      })
      .catch((e: unknown) => e);
    expect((over as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((over as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'overloaded_error' } });

    for (const model of ['anthropic/claude-sonnet-4-5', 'openai/gpt-4o-mini']) {
      const mid = client.messages.stream({
        model,
        max_tokens: 50,
        messages: [{ role: 'user', content: 'x\nmock:{"tokens":6,"itl_ms":5,"error":{"status":500,"after_tokens":2}}' }],
      });
      let text = '';
      mid.on('text', (t) => (text += t));
      const err = await mid.finalMessage().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.APIError);
      expect(text).toBe('tok0 tok1');
    }
  });
});

describe("the tenant's controls apply as on chat completions", () => {
  it('model policy is a PermissionDeniedError, the rpm limit a RateLimitError', async () => {
    const admin = async (path: string, body: unknown) => {
      const res = await fetch(`${stack.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as { id: string; key: string };
    };
    const tenant = await admin('/admin/v1/tenants', { name: 'messages-policy', allowed_models: ['anthropic/*'], limits: { rpm: 1 } });
    const { key } = await admin(`/admin/v1/tenants/${tenant.id}/keys`, {});
    const limited = new Anthropic({ apiKey: key, baseURL: stack.url, maxRetries: 0 });
    const ask = (model: string) => limited.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });

    const denied = await ask('openai/gpt-4o-mini').catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((denied as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'permission_error' } });

    await ask('anthropic/claude-haiku-4-5');
    const limitedErr = await ask('anthropic/claude-haiku-4-5').catch((e: unknown) => e);
    expect(limitedErr).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limitedErr as InstanceType<typeof Anthropic.APIError>).headers?.get('x-ratelimit-limit-requests')).toBe('1');
  });
});

describe('resumable streams', () => {
  for (const model of ['anthropic/claude-sonnet-4-5', 'openai/gpt-4o-mini']) {
    it(`a cut ${model} stream resumes at GET /v1/requests/{id}/events with Last-Event-ID: exactly the rest, as Messages SSE`, async () => {
      const ac = new AbortController();
      const res = await fetch(`${stack.url}/v1/messages`, {
        method: 'POST',
        signal: ac.signal,
        headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({
          model,
          max_tokens: 100,
          stream: true,
          messages: [{ role: 'user', content: 'go\nmock:{"tokens":12,"itl_ms":40}' }],
        }),
      });
      const requestId = res.headers.get('x-request-id')!;
      // Read until three events carried an id, then drop the connection after the last whole one.
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = '';
      while ((text.match(/^id: /gm) ?? []).length < 3) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended before the cut');
        text += dec.decode(value, { stream: true });
      }
      ac.abort();
      const lastId = [...text.matchAll(/^id: (\d+)$/gm)].at(-1)!;
      const kept = text.slice(0, text.indexOf('\n\n', lastId.index) + 2);

      const rest = await fetch(`${stack.url}/v1/requests/${requestId}/events`, {
        headers: { authorization: `Bearer ${stack.apiKey}`, 'last-event-id': lastId[1]! },
      });
      expect(rest.status).toBe(200);
      const all = kept + (await rest.text());
      const events = [...all.matchAll(/^data: (.*)$/gm)].map(
        (m) => JSON.parse(m[1]!) as { type: string; index?: number; delta?: { type: string; text?: string } },
      );
      expect(events.filter((e) => e.type === 'message_start')).toHaveLength(1);
      expect(events.at(-1)!.type).toBe('message_stop');
      const streamed = events.flatMap((e) => (e.delta?.type === 'text_delta' ? [e.delta.text] : [])).join('');
      expect(streamed).toBe(Array.from({ length: 12 }, (_, i) => `tok${i}`).join(' '));
      expect(new Set(events.filter((e) => e.type === 'content_block_start').map((e) => e.index))).toEqual(new Set([0]));
    });
  }
});

describe('fuzzed Messages bodies for a translated provider', () => {
  // Seeded and bounded like test/security/fuzz.test.ts: near-valid bodies with one part gone wrong.
  const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 20 }), fc.constantFrom(null, -1, 0, '', [], {}));
  const block = fc.oneof(
    fc.record(
      { type: fc.constantFrom('text', 'image', 'tool_use', 'tool_result', 'thinking', 'document', 'x'), text: anyValue },
      { requiredKeys: ['type'] },
    ),
    fc.record({ type: fc.constant('image'), source: anyValue }),
    fc.record({ type: fc.constant('tool_result'), tool_use_id: anyValue, content: anyValue, is_error: anyValue }),
    fc.record({ type: fc.constant('tool_use'), id: anyValue, name: anyValue, input: anyValue }),
    anyValue,
  );
  const body = fc.record(
    {
      model: fc.constantFrom('openai/gpt-4o-mini', 'gemini/gemini-2.5-flash'),
      max_tokens: fc.oneof(fc.constant(5), anyValue),
      messages: fc.oneof(
        fc.array(
          fc.record({
            role: fc.constantFrom('user', 'assistant', 'tool'),
            content: fc.oneof(fc.string({ maxLength: 10 }), fc.array(block, { maxLength: 3 }), anyValue),
          }),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        anyValue,
      ),
      system: anyValue,
      tools: fc.oneof(
        fc.array(fc.record({ name: anyValue, input_schema: anyValue, type: anyValue }, { requiredKeys: ['name'] }), { maxLength: 2 }),
        anyValue,
      ),
      tool_choice: anyValue,
      thinking: anyValue,
      metadata: anyValue,
      stop_sequences: anyValue,
      stream: fc.boolean(),
    },
    { requiredKeys: ['model', 'max_tokens', 'messages'] },
  );

  it('answer 2xx, or 4xx in the Anthropic envelope; never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await fetch(`${stack.url}/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json' },
          body: JSON.stringify(b),
        });
        const text = await res.text();
        expect(res.status, text).toBeLessThan(500);
        if (res.status >= 400)
          expect(JSON.parse(text)).toMatchObject({ type: 'error', error: { type: expect.any(String), message: expect.any(String) } });
      }),
      { seed: 20261203, numRuns: 60 },
    );
  });
});

describe('ledger', () => {
  it('one usage row per Messages request, with the upstream token counts', async () => {
    for (const model of ['anthropic/claude-sonnet-4-5', 'openai/gpt-4o-mini']) {
      const { data, response } = await client.messages
        .create({ model, max_tokens: 20, messages: [{ role: 'user', content: 'count me\nmock:{"tokens":5}' }] })
        .withResponse();
      const requestId = response.headers.get('x-request-id')!;
      const row = await waitForUsageRow(stack.db, requestId);
      expect(row).toMatchObject({
        status: 'ok',
        provider: model.split('/')[0],
        input_tokens: data.usage.input_tokens,
        output_tokens: 5,
        kind: 'chat',
      });
      const rows = await stack.db.selectFrom('usage').select('request_id').where('request_id', '=', requestId).execute();
      expect(rows).toHaveLength(1);
    }
  });
});
