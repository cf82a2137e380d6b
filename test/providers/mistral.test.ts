// The Mistral adapter: the OpenAI-compatible adapter with Mistral's request rules, usage, mid-stream
// and error bodies, and rate-limit headers as hooks in shared/providers/mistral/.
import { describe, expect, it } from 'vitest';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';
import type { StreamPart, StreamTranslator } from '../../shared/providers/types.ts';
import { getAdapter, getDescriptor } from '../../shared/providers/registry.ts';
import { toMistralToolCallId } from '../../shared/providers/mistral/tool-call-id.ts';
import { assemble } from '../conformance/replay.ts';

const mistral = getAdapter('mistral')!;
const endpoint = { baseUrl: 'https://api.mistral.ai/v1', apiKey: 'mk' };

async function bodyOf(req: Partial<ChatCompletionRequest>, stream = false) {
  const built = await mistral.buildChatRequest(
    endpoint,
    'mistral-small-latest',
    { model: 'x', messages: [], ...req } as ChatCompletionRequest,
    stream,
  );
  return { built, body: JSON.parse(built.body) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Feeds the wire 3 bytes at a time, so every frame and UTF-8 sequence is split somewhere. */
function runIn3ByteSlices(t: StreamTranslator, wire: string) {
  const bytes = Buffer.from(wire, 'utf8');
  const dec = new TextDecoder();
  const parts: StreamPart[] = [];
  for (let i = 0; i < bytes.length; i += 3) parts.push(...t.push(dec.decode(bytes.subarray(i, i + 3), { stream: true })));
  parts.push(...t.end());
  return assemble(parts);
}

const chunk = (delta: object, finish: string | null = null, extra: object = {}) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'mistral-small-latest', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;

describe('mistral descriptor', () => {
  it('is built in with its own env prefix, base URL, simulator path and model-name rule', () => {
    expect(getDescriptor('mistral')).toMatchObject({
      envPrefix: 'MISTRAL',
      defaultBaseUrl: 'https://api.mistral.ai/v1',
      needsKey: true,
      simulatorPath: '/mistral/v1',
      inCapabilityMatrix: true,
    });
    expect(mistral.name).toBe('mistral');
    expect(mistral.supportsEmbeddings).toBe(false);
    const rule = getDescriptor('mistral')!.modelNames.re;
    expect(rule.test('ft:open-mistral-7b:587a6b29:20240514:7e773925')).toBe(true);
    expect(rule.test('org/model')).toBe(false);
  });
});

describe('mistral request', () => {
  it('sends only fields Mistral takes: seed as random_seed, max_tokens, no stream_options, developer as system', async () => {
    const { built, body } = await bodyOf(
      {
        messages: [
          { role: 'developer', content: 'be brief' },
          { role: 'user', content: 'hi', name: 'ann' },
          { role: 'assistant', content: 'yo', reasoning_content: 'hm', refusal: null } as ChatCompletionRequest['messages'][number],
          { role: 'user', content: 'again' },
        ],
        seed: 42,
        max_completion_tokens: 300,
        temperature: 0.2,
        store: false,
        stream_options: { include_usage: true },
        safe_prompt: true,
      } as Partial<ChatCompletionRequest>,
      true,
    );
    expect(built.url).toBe('https://api.mistral.ai/v1/chat/completions');
    expect(built.headers.authorization).toBe('Bearer mk');
    expect(built.headers.accept).toBe('text/event-stream');
    expect(body).toEqual({
      model: 'mistral-small-latest',
      stream: true,
      random_seed: 42,
      max_tokens: 300,
      temperature: 0.2,
      safe_prompt: true,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'yo' },
        { role: 'user', content: 'again' },
      ],
    });
  });

  it('refuses what Mistral has no field for (user, store, reasoning_effort) instead of dropping it', async () => {
    for (const [param, value] of [
      ['user', 'u1'],
      ['store', true],
      ['reasoning_effort', 'low'],
    ] as const) {
      await expect(bodyOf({ messages: [{ role: 'user', content: 'hi' }], [param]: value })).rejects.toMatchObject({
        upstream: { status: 400, error: { param, code: 'unsupported_parameter', type: 'invalid_request_error' } },
      });
    }
  });

  it('maps foreign tool call ids to 9 letters and digits, the same on the call and on its result', async () => {
    const { body } = await bodyOf({
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_abc123XYZ_long', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'D681PevKs', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_abc123XYZ_long', content: 'sunny' },
        { role: 'tool', tool_call_id: 'D681PevKs', content: 'noon' },
      ],
    });
    const [first, second] = body.messages[1].tool_calls;
    expect(first.id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(first.id).toBe(toMistralToolCallId('call_abc123XYZ_long'));
    expect(body.messages[2].tool_call_id).toBe(first.id);
    // Mistral's own ids come back unchanged.
    expect(second.id).toBe('D681PevKs');
    expect(body.messages[3].tool_call_id).toBe('D681PevKs');
    expect(toMistralToolCallId('call_other')).not.toBe(first.id);
  });
});

describe('mistral responses and streams', () => {
  it('parses a completion with tool calls and Mistral usage (cached tokens from num_cached_tokens)', () => {
    const r = mistral.parseChatResponse(
      {
        id: 'x',
        object: 'chat.completion',
        model: 'mistral-small-latest',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: '',
              tool_calls: [{ id: 'D681PevKs', type: 'function', function: { name: 'f', arguments: '{}' } }],
              prefix: false,
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, num_cached_tokens: 4 },
      },
      'mistral-small-latest',
    );
    expect(r.finish_reason).toBe('tool_calls');
    expect(r.message.tool_calls).toEqual([{ id: 'D681PevKs', type: 'function', function: { name: 'f', arguments: '{}' } }]);
    expect(r.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 } });
  });

  it('streams at 3-byte slices: text, whole tool calls, finish with usage on the same chunk', () => {
    const wire =
      chunk({ role: 'assistant', content: '' }) +
      chunk({ content: 'Bonjour ' }) +
      chunk({ content: 'été' }) +
      chunk({ content: '', tool_calls: [{ id: 'D681PevKs', function: { name: 'get_time', arguments: '{}' }, index: 0 }] }) +
      chunk({ content: '' }, 'tool_calls', { usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } }) +
      'data: [DONE]\n\n';
    const got = runIn3ByteSlices(mistral.createStreamTranslator('m'), wire);
    expect(got.error).toBeNull();
    expect(got.content).toBe('Bonjour été');
    expect(got.toolCalls).toEqual([{ id: 'D681PevKs', name: 'get_time', arguments: '{}' }]);
    expect(got.finish).toBe('tool_calls');
    expect(got.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  });

  it('a mid-stream {"object":"error"} ends the stream with that error, not a truncation', () => {
    const wire =
      chunk({ role: 'assistant', content: '' }) +
      chunk({ content: 'tok0' }) +
      `data: ${JSON.stringify({ object: 'error', message: 'Service unavailable', type: 'internal_server_error', param: null, code: '503' })}\n\n`;
    const got = runIn3ByteSlices(mistral.createStreamTranslator('m'), wire);
    expect(got.content).toBe('tok0');
    expect(got.error?.error).toMatchObject({ status: 503, retryable: true, error: { message: 'Service unavailable' } });
  });

  it('a stream cut before finish is still an error', () => {
    const got = runIn3ByteSlices(mistral.createStreamTranslator('m'), chunk({ content: 'tok0' }));
    expect(got.error).not.toBeNull();
  });
});

describe('mistral errors', () => {
  it('{"object":"error"} keeps message and code', () => {
    const e = mistral.parseError(
      400,
      JSON.stringify({
        object: 'error',
        message: 'Prompt contains 40000 tokens, too large',
        type: 'invalid_request_error',
        param: null,
        code: '3051',
      }),
      {},
    );
    expect(e).toMatchObject({
      status: 400,
      retryable: false,
      error: { message: 'Prompt contains 40000 tokens, too large', type: 'invalid_request_error', code: '3051' },
    });
  });

  it('a 422 {"detail":[...]} is a 400 naming the rejected field', () => {
    const body = {
      detail: [{ type: 'extra_forbidden', loc: ['body', 'stream_options'], msg: 'Extra inputs are not permitted', input: {} }],
    };
    const e = mistral.parseError(422, JSON.stringify(body), {});
    expect(e.status).toBe(400);
    expect(e.error.message).toBe('body.stream_options: Extra inputs are not permitted');
    expect(e.error.type).toBe('invalid_request_error');
  });

  it("the gateway's flat 401 is our key's fault (502 upstream_auth_error); its 429 is a retryable rate limit", () => {
    const auth = mistral.parseError(401, JSON.stringify({ message: 'Unauthorized', request_id: 'r1' }), {});
    expect(auth).toMatchObject({ status: 502, error: { message: 'Unauthorized', code: 'upstream_auth_error' } });
    const limited = mistral.parseError(429, JSON.stringify({ message: 'Requests rate limit exceeded' }), { 'retry-after': '3' });
    expect(limited).toMatchObject({
      status: 429,
      retryable: true,
      retryAfterMs: 3000,
      error: { type: 'rate_limit_error', code: 'rate_limit_exceeded' },
    });
  });

  it('an unknown model is model_not_found; a non-JSON body keeps its text', () => {
    const e = mistral.parseError(
      400,
      JSON.stringify({ object: 'error', message: 'Invalid model: mistral-nope', type: 'invalid_model', code: '1500' }),
      {},
    );
    expect(e).toMatchObject({ status: 404, error: { code: 'model_not_found' } });
    expect(mistral.parseError(502, '<html>bad gateway</html>', {}).error.message).toBe('<html>bad gateway</html>');
  });
});

describe('mistral rate-limit headers', () => {
  const parse = getDescriptor('mistral')!.rateLimits;
  it('exhausted per minute or per month by size, for the reset seconds; otherwise not', () => {
    expect(parse({ 'x-ratelimitbysize-remaining-minute': '0', 'ratelimitbysize-reset': '41' }, 0)).toBe(41_000);
    expect(parse({ 'x-ratelimitbysize-remaining-minute': '0' }, 0)).toBe(60_000);
    expect(parse({ 'x-ratelimitbysize-remaining-month': '0' }, 0)).toBe(86_400_000);
    expect(parse({ 'x-ratelimitbysize-remaining-minute': '4990', 'ratelimitbysize-reset': '41' }, 0)).toBeUndefined();
    expect(parse({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' }, 0)).toBe(2_000);
  });
});
