// Adapters on small hand-written fixtures: request building, stream translation across awkward
// chunk boundaries, finish/usage mapping and error envelopes. Always runs (no recordings needed).
import { describe, expect, it } from 'vitest';
import { getAdapter } from '../../shared/providers/registry.ts';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';
import { decodeGeminiToolCallId, encodeGeminiToolCallId } from '../../shared/providers/gemini/tool-call-id.ts';
import { fixXaiUsage } from '../../shared/providers/xai/usage.ts';
import { runTranslator } from '../conformance/replay.ts';

const ep = { baseUrl: 'http://up', apiKey: 'key' };
const req = (r: Partial<ChatCompletionRequest>): ChatCompletionRequest =>
  ({ model: 'x', messages: [{ role: 'user', content: 'hi' }], ...r }) as ChatCompletionRequest;

describe('anthropic adapter', () => {
  const a = getAdapter('anthropic')!;
  it('merges same-role turns, hoists system, maps tools and tool results', async () => {
    const up = await a.buildChatRequest(
      ep,
      'claude',
      req({
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
          { role: 'assistant', content: '', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '' } }] },
          { role: 'tool', tool_call_id: 'toolu_1', content: 'r' },
          { role: 'user', content: 'c' },
        ],
        tools: [{ type: 'function', function: { name: 'f' } }],
        tool_choice: { type: 'function', function: { name: 'f' } },
        parallel_tool_calls: false,
      }),
      false,
    );
    const body = JSON.parse(up.body);
    expect(up.url).toBe('http://up/v1/messages');
    expect(up.headers['x-api-key']).toBe('key');
    expect(body.system).toBe('sys');
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: 'r' },
          { type: 'text', text: 'c' },
        ],
      },
    ]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'f', disable_parallel_tool_use: true });
    expect(body.tools).toEqual([{ name: 'f', input_schema: { type: 'object', properties: {} } }]);
  });

  it('streams a no-argument tool call as "{}" and a thinking block as reasoning', () => {
    const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}   \n\n`;
    const wire = [
      ev('message_start', { message: { usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 } } }),
      ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }),
      ev('content_block_stop', { index: 0 }),
      ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_9', name: 'noargs', input: {} } }),
      ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '' } }),
      ev('content_block_stop', { index: 1 }),
      ev('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 20 } }),
      ev('message_stop', {}),
    ].join('');
    const got = runTranslator(a.createStreamTranslator('m'), wire, 3);
    expect(got.reasoning).toBe('hmm');
    expect(got.toolCalls).toEqual([{ id: 'toolu_9', name: 'noargs', arguments: '{}' }]);
    expect(got.finish).toBe('tool_calls');
    expect(got.usage).toEqual({ prompt_tokens: 15, completion_tokens: 20, total_tokens: 35, prompt_tokens_details: { cached_tokens: 5 } });
  });

  it('maps refusal to content_filter and a mid-stream overloaded error to a retryable 503', () => {
    const refusal = a.parseChatResponse({ content: [], stop_reason: 'refusal', usage: { input_tokens: 1, output_tokens: 0 } }, 'm');
    expect(refusal.finish_reason).toBe('content_filter');
    const wire =
      'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":1}}}\n\nevent: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';
    const got = runTranslator(a.createStreamTranslator('m'), wire);
    expect(got.error?.error).toMatchObject({ status: 503, retryable: true, error: { message: 'Overloaded' } });
    expect(a.parseError(401, '{"type":"error","error":{"type":"authentication_error","message":"bad key"}}', {}).status).toBe(502);
  });

  it('rejects a malformed tool_use block instead of inventing one', () => {
    expect(() => a.parseChatResponse({ content: [{ type: 'tool_use', name: 'f' }], stop_reason: 'tool_use' }, 'm')).toThrow();
  });
});

describe('gemini adapter', () => {
  const g = getAdapter('gemini')!;
  it('carries the thoughtSignature through the tool call id and back', async () => {
    const res = g.parseChatResponse(
      {
        candidates: [
          { content: { parts: [{ functionCall: { name: 'f', args: { a: 1 } }, thoughtSignature: 'c2ln+/=' }] }, finishReason: 'STOP' },
        ],
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, thoughtsTokenCount: 4, totalTokenCount: 9 },
      },
      'm',
    );
    expect(res.finish_reason).toBe('tool_calls');
    expect(res.usage).toEqual({
      prompt_tokens: 3,
      completion_tokens: 6,
      total_tokens: 9,
      completion_tokens_details: { reasoning_tokens: 4 },
    });
    const call = res.message.tool_calls![0]!;
    expect(call.id).toMatch(/^[A-Za-z0-9_-]+$/);
    const up = await g.buildChatRequest(
      ep,
      'gemini-3-pro',
      req({
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: 'plain' },
        ],
      }),
      true,
    );
    const body = JSON.parse(up.body);
    expect(up.url).toBe('http://up/models/gemini-3-pro:streamGenerateContent?alt=sse');
    expect(body.contents[1].parts[0]).toEqual({ functionCall: { name: 'f', args: { a: 1 } }, thoughtSignature: 'c2ln+/=' });
    expect(body.contents[2].parts[0]).toEqual({ functionResponse: { name: 'f', response: { content: 'plain' } } });
    expect(decodeGeminiToolCallId(encodeGeminiToolCallId('given-id', undefined))).toEqual({
      providerId: 'given-id',
      thoughtSignature: undefined,
    });
  });

  it('parses CRLF-framed SSE cut anywhere; SAFETY is content_filter; RetryInfo becomes retryAfterMs', () => {
    const chunk = (o: object) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    const wire =
      chunk({ candidates: [{ content: { parts: [{ text: 'thinking…', thought: true }] } }], usageMetadata: { promptTokenCount: 2 } }) +
      chunk({ candidates: [{ content: { parts: [{ text: 'Hé' }] } }], usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1 } }) +
      chunk({
        candidates: [{ content: { parts: [{ text: '' }] }, finishReason: 'SAFETY' }],
        usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1, totalTokenCount: 3 },
      });
    for (const seed of [1, 2, 3]) {
      const got = runTranslator(g.createStreamTranslator('m'), wire, seed);
      expect([got.reasoning, got.content, got.finish, got.usage?.total_tokens]).toEqual(['thinking…', 'Hé', 'content_filter', 3]);
    }
    const err = g.parseError(
      429,
      JSON.stringify({
        error: {
          code: 429,
          message: 'quota',
          status: 'RESOURCE_EXHAUSTED',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.5s' }],
        },
      }),
      {},
    );
    expect(err).toMatchObject({ status: 429, retryable: true, retryAfterMs: 1500, error: { code: 'rate_limit_exceeded' } });
    expect(runTranslator(g.createStreamTranslator('m'), wire.slice(0, wire.length - 10)).error).not.toBeNull();
  });
});

describe('ollama adapter', () => {
  const o = getAdapter('ollama')!;
  it('accumulates whole tool calls across lines and maps done+tool_calls to tool_calls', () => {
    const lines = [
      { message: { role: 'assistant', content: '', thinking: 'plan' }, done: false },
      { message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'a', arguments: { x: 1 } } }] }, done: false },
      { message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'b', arguments: {} } }] }, done: false },
      { message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 7, eval_count: 3 },
    ];
    const got = runTranslator(o.createStreamTranslator('m'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n', 5);
    expect(got.reasoning).toBe('plan');
    expect(got.toolCalls.map((t) => [t.name, t.arguments])).toEqual([
      ['a', '{"x":1}'],
      ['b', '{}'],
    ]);
    expect(got.toolCalls[0]!.id).not.toBe(got.toolCalls[1]!.id);
    expect(got.finish).toBe('tool_calls');
    expect(got.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  });

  it('an error line after a 200 is an error part; 404 model not found maps to model_not_found', () => {
    const got = runTranslator(o.createStreamTranslator('m'), '{"message":{"content":"a"},"done":false}\n{"error":"boom"}\n');
    expect(got.content).toBe('a');
    expect(got.error?.error.error.message).toBe('boom');
    expect(o.parseError(404, '{"error":"model \'x\' not found"}', {}).error.code).toBe('model_not_found');
  });
});

describe('groq and xai quirks', () => {
  it('groq: event: error mid-stream keeps its status_code', () => {
    const wire =
      'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\nevent: error\ndata: {"error":{"message":"tool call failed","type":"invalid_request_error","code":"tool_use_failed","status_code":400}}\n\n';
    const got = runTranslator(getAdapter('groq')!.createStreamTranslator('m'), wire);
    expect(got.error?.error).toMatchObject({ status: 400, retryable: false, error: { code: 'tool_use_failed' } });
    expect(getAdapter('groq')!.parseError(498, '{"error":{"message":"capacity"}}', {})).toMatchObject({ status: 503, retryable: true });
  });

  it('xai: reasoning added to completion_tokens only when the total shows it was left out; flat error body', () => {
    expect(
      fixXaiUsage({ prompt_tokens: 12, completion_tokens: 1, total_tokens: 303, completion_tokens_details: { reasoning_tokens: 290 } }),
    ).toMatchObject({ completion_tokens: 291, total_tokens: 303 });
    expect(
      fixXaiUsage({ prompt_tokens: 12, completion_tokens: 291, total_tokens: 303, completion_tokens_details: { reasoning_tokens: 290 } })
        .completion_tokens,
    ).toBe(291);
    const err = getAdapter('xai')!.parseError(
      400,
      '{"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***"}',
      {},
    );
    expect(err).toMatchObject({ status: 502, error: { message: 'Incorrect API key provided: xa***' } });
    expect(
      getAdapter('xai')!.parseError(400, '{"code":"Client specified an invalid argument","error":"bad temperature"}', {}).error.code,
    ).toBe('invalid_argument');
  });
});
