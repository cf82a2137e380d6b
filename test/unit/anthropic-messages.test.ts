// The Anthropic Messages dialect for non-Anthropic providers: the request translated without loss or
// refused naming the field, the chat answer and stream rendered as Anthropic's shapes, errors mapped.
import { describe, expect, it } from 'vitest';
import { anthropicError, anthropicStatus } from '../../shared/protocol/anthropic-messages/errors.ts';
import { MessagesStreamWriter, messageBody, messagesUsage, stopReasonFor } from '../../shared/protocol/anthropic-messages/from-chat.ts';
import { messagesRequestSchema, type MessagesRequest } from '../../shared/protocol/anthropic-messages/request.ts';
import { messagesToChatRequest } from '../../shared/protocol/anthropic-messages/to-chat.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import { MessagesEventRenderer } from '../../services/ingress/messages-render.ts';
import { estimatePromptTokens } from '../../shared/limits/estimate.ts';
import { createAnthropicStreamTranslator } from '../../shared/providers/anthropic/stream.ts';
import type { StreamPart } from '../../shared/providers/types.ts';

const req = (over: Record<string, unknown>): MessagesRequest =>
  messagesRequestSchema.parse({ model: 'openai/gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], ...over });

function refusal(body: MessagesRequest): ApiError {
  try {
    messagesToChatRequest(body, 'openai');
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected a 400');
}

describe('messagesToChatRequest', () => {
  it('a multi-turn tool conversation with system blocks, thinking and images', () => {
    const chat = messagesToChatRequest(
      req({
        system: [
          { type: 'text', text: 'one' },
          { type: 'text', text: 'two' },
        ],
        stop_sequences: ['END'],
        temperature: 0.5,
        metadata: { user_id: 'u-1' },
        thinking: { type: 'enabled', budget_tokens: 9000 },
        tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' } }],
        tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
              { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
              { type: 'text', text: 'weather?' },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'call it', signature: 'sig' },
              { type: 'text', text: 'Let me look.' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'sunny' }] },
              { type: 'tool_result', tool_use_id: 'toolu_2', content: 'boom', is_error: true },
              { type: 'text', text: 'thanks' },
            ],
          },
        ],
      }),
      'openai',
    );
    expect(chat).toEqual({
      model: 'openai/gpt-4o',
      max_tokens: 100,
      temperature: 0.5,
      stop: ['END'],
      user: 'u-1',
      reasoning_effort: 'high',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      messages: [
        { role: 'system', content: 'one\n\ntwo' },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            { type: 'text', text: 'weather?' },
          ],
        },
        {
          role: 'assistant',
          content: 'Let me look.',
          reasoning_content: 'call it',
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
        { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: boom' },
        { role: 'user', content: 'thanks' },
      ],
    });
  });

  it('tool_choice and thinking budgets map to their OpenAI counterparts', () => {
    expect(messagesToChatRequest(req({ tool_choice: { type: 'any' } }), 'openai').tool_choice).toBe('required');
    expect(messagesToChatRequest(req({ tool_choice: { type: 'none' } }), 'openai').tool_choice).toBe('none');
    expect(messagesToChatRequest(req({ tool_choice: { type: 'auto' } }), 'openai').tool_choice).toBe('auto');
    const effort = (budget: number) =>
      messagesToChatRequest(req({ max_tokens: 40000, thinking: { type: 'enabled', budget_tokens: budget } }), 'openai').reasoning_effort;
    expect([1024, 2048, 8192, 16384].map(effort)).toEqual(['minimal', 'low', 'medium', 'high']);
    expect(messagesToChatRequest(req({ thinking: { type: 'disabled' } }), 'openai').reasoning_effort).toBeUndefined();
  });

  it('refuses, naming the field, whatever would be lost', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { messages: [{ role: 'user', content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral' } }] }] },
        'messages[0].content[0].cache_control',
      ],
      [{ system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral' } }] }, 'system[0].cache_control'],
      [{ top_k: 5 }, 'top_k'],
      [{ service_tier: 'auto' }, 'service_tier'],
      [{ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 'tools[0].type'],
      [{ tools: [{ name: 't', input_schema: {}, cache_control: { type: 'ephemeral' } }] }, 'tools[0].cache_control'],
      [{ messages: [{ role: 'assistant', content: [{ type: 'redacted_thinking', data: 'xx' }] }] }, 'messages[0].content[0].type'],
      [{ messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, 'messages[0].content[0].type'],
      [
        { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f' } }] }] },
        'messages[0].content[0].source.type',
      ],
      [
        { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: {} }] }] }] },
        'messages[0].content[0].content[0].type',
      ],
      [{ stop_sequences: ['a', 'b', 'c', 'd', 'e'] }, 'stop_sequences'],
      [{ metadata: { user_id: 'u', other: 1 } }, 'metadata.other'],
    ];
    for (const [over, param] of cases) {
      const err = refusal(req(over));
      expect(err.status, param).toBe(400);
      expect(err.param, param).toBe(param);
      expect(err.message).toContain(`'${param}'`);
      expect(err.message).toContain("provider 'openai'");
    }
  });
});

describe('chat answer -> Message', () => {
  it('thinking, text and tool_use blocks, the stop reason and usage with the cache split out', () => {
    const body = messageBody(
      'msg_1',
      'openai/gpt-4o',
      {
        role: 'assistant',
        content: 'checking',
        reasoning_content: 'hmm',
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      },
      'tool_calls',
      { prompt_tokens: 30, completion_tokens: 7, total_tokens: 37, prompt_tokens_details: { cached_tokens: 10 } },
    );
    expect(body).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'openai/gpt-4o',
      content: [
        { type: 'thinking', thinking: 'hmm', signature: '' },
        { type: 'text', text: 'checking' },
        { type: 'tool_use', id: 'call_1', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 20, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 10 },
    });
  });

  it('finish reasons map to stop reasons', () => {
    expect(['stop', 'length', 'tool_calls', 'content_filter', null].map(stopReasonFor)).toEqual([
      'end_turn',
      'max_tokens',
      'tool_use',
      'refusal',
      'end_turn',
    ]);
    expect(messagesUsage({ prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 })).toEqual({
      input_tokens: 5,
      output_tokens: 1,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
  });
});

describe('MessagesStreamWriter', () => {
  /** What Switchyard's own Anthropic stream reader makes of the frames, fed 3 bytes at a time. */
  function readBack(sse: string): StreamPart[] {
    const t = createAnthropicStreamTranslator();
    const parts: StreamPart[] = [];
    for (let i = 0; i < sse.length; i += 3) parts.push(...t.push(sse.slice(i, i + 3)));
    return [...parts, ...t.end()];
  }

  it('thinking, text and two streamed tool calls become Anthropic events that read back to the same deltas', () => {
    const w = new MessagesStreamWriter('msg_1', 'gemini/x');
    const sse =
      w.start() +
      w.delta({ reasoning_content: 'think' }) +
      w.delta({ content: 'Hel' }) +
      w.delta({ content: 'lo' }) +
      w.delta({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"x"' } }] }) +
      w.delta({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }) +
      w.delta({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '' } }] }) +
      w.finish('tool_calls', { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });

    const names = [...sse.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(names).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const indexes = [...sse.matchAll(/"type":"content_block_start","index":(\d+)/g)].map((m) => Number(m[1]));
    expect(indexes).toEqual([0, 1, 2, 3]);

    const parts = readBack(sse);
    const text = parts.flatMap((p) => (p.type === 'delta' && p.delta.content ? [p.delta.content] : [])).join('');
    const reasoning = parts.flatMap((p) => (p.type === 'delta' && p.delta.reasoning_content ? [p.delta.reasoning_content] : [])).join('');
    const args = new Map<number, string>();
    for (const p of parts)
      if (p.type === 'delta')
        for (const t of p.delta.tool_calls ?? []) args.set(t.index, (args.get(t.index) ?? '') + (t.function?.arguments ?? ''));
    expect({ text, reasoning, args: [...args.values()] }).toEqual({ text: 'Hello', reasoning: 'think', args: ['{"x":1}', '{}'] });
    expect(parts.filter((p) => p.type === 'finish' || p.type === 'usage')).toEqual([
      { type: 'finish', finish_reason: 'tool_calls' },
      { type: 'usage', usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13, prompt_tokens_details: { cached_tokens: 0 } } },
    ]);
  });

  it('an empty answer still has one text block, as Anthropic sends it', () => {
    const w = new MessagesStreamWriter('msg_2', 'openai/x');
    const sse = w.start() + w.finish('length', { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 });
    expect([...sse.matchAll(/^event: (\S+)$/gm)].map((m) => m[1])).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(sse).toContain('"stop_reason":"max_tokens"');
  });
});

describe('errors in Anthropic envelope', () => {
  it("uses Anthropic's status codes and error types", () => {
    const table = [400, 401, 402, 403, 404, 413, 422, 429, 500, 502, 503, 504, 529].map((s) => [s, anthropicStatus(s)]);
    expect(Object.fromEntries(table)).toEqual({
      400: { status: 400, type: 'invalid_request_error' },
      401: { status: 401, type: 'authentication_error' },
      402: { status: 403, type: 'permission_error' },
      403: { status: 403, type: 'permission_error' },
      404: { status: 404, type: 'not_found_error' },
      413: { status: 413, type: 'request_too_large' },
      422: { status: 400, type: 'invalid_request_error' },
      429: { status: 429, type: 'rate_limit_error' },
      500: { status: 500, type: 'api_error' },
      502: { status: 500, type: 'api_error' },
      503: { status: 529, type: 'overloaded_error' },
      504: { status: 500, type: 'api_error' },
      529: { status: 529, type: 'overloaded_error' },
    });
    expect(anthropicError(429, { message: 'slow down' })).toEqual({
      status: 429,
      body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
    });
  });
});

describe('token estimate of a Messages body', () => {
  it('counts the top-level system prompt and an image block as an image, not as its base64 text', () => {
    const body = {
      system: [{ type: 'text', text: 'a'.repeat(35) }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(70_000) } },
            { type: 'text', text: 'b'.repeat(7) },
          ],
        },
      ],
    };
    // system 10 + per message 4 + image 1000 + text 2
    expect(estimatePromptTokens(body)).toBe(1016);
    expect(estimatePromptTokens({ ...body, system: 'c'.repeat(70) })).toBe(1026);
  });
});

describe('MessagesEventRenderer (live and resumed streams)', () => {
  const chunk = (seq: number, delta: object, native?: string) => ({
    type: 'chunk' as const,
    seq,
    attempt: 1,
    delta,
    ...(native ? { native } : {}),
  });
  const done = {
    type: 'done' as const,
    seq: 4,
    attempt: 1,
    finish_reason: 'stop',
    usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    model: 'm',
    provider: 'openai',
  };

  it('a resume after seq 2 gets only the frames of later events, with block indexes as the live stream had them', () => {
    const events = [chunk(1, { reasoning_content: 'r' }), chunk(2, { content: 'a' }), chunk(3, { content: 'b' }), done];
    const live = new MessagesEventRenderer('msg_1', 'openai/x');
    const full = events.map((e) => live.render(e)).join('');
    const resumed = new MessagesEventRenderer('msg_1', 'openai/x');
    const rest = events.map((e) => resumed.render(e, 2)).join('');
    expect(full.endsWith(rest)).toBe(true);
    expect(rest.startsWith('id: 3\nevent: content_block_delta\ndata: {"type":"content_block_delta","index":1,')).toBe(true);
    // Each event's last frame carries its seq.
    expect([...full.matchAll(/^id: (\d+)$/gm)].map((m) => m[1])).toEqual(['1', '2', '3', '4']);
  });

  it("relays an Anthropic upstream's frames and adds no message_start or message_stop of its own", () => {
    const r = new MessagesEventRenderer('msg_2', 'anthropic/x');
    const frames = 'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {"type":"ping"}\n\n';
    const out = r.render(chunk(1, {}, frames)) + r.render({ ...done, seq: 2, provider: 'anthropic' });
    expect(out).toBe('event: message_start\ndata: {"type":"message_start"}\n\nid: 1\nevent: ping\ndata: {"type":"ping"}\n\n');
  });
});
