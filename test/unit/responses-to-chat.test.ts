// Responses requests -> chat completions (shared/protocol/responses/{request,to-chat}.ts): item
// mapping, tools, formats, and the 400s that name what cannot be relayed.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/protocol/errors.ts';
import { parseResponsesRequest } from '../../shared/protocol/responses/request.ts';
import { inputToMessages, toChatRequest } from '../../shared/protocol/responses/to-chat.ts';

function translate(body: Record<string, unknown>, history = []) {
  const req = parseResponsesRequest({ model: 'anthropic/claude-sonnet-4-5', ...body });
  return toChatRequest(req, history, inputToMessages(req.input));
}

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('Responses request -> chat completion', () => {
  it('instructions first, then history, then input; scalar options mapped', () => {
    const chat = toChatRequest(
      parseResponsesRequest({
        model: 'm',
        instructions: 'sys',
        input: 'now',
        max_output_tokens: 64,
        temperature: 0.5,
        top_p: 0.9,
        reasoning: { effort: 'high', summary: 'auto' },
        text: { format: { type: 'json_object' } },
        stream: true,
        user: 'u1',
      }),
      [
        { role: 'user', content: 'before' },
        { role: 'assistant', content: 'answer' },
      ],
      [{ role: 'user', content: 'now' }],
    );
    expect(chat).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'before' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: 'now' },
      ],
      stream: true,
      max_completion_tokens: 64,
      temperature: 0.5,
      top_p: 0.9,
      response_format: { type: 'json_object' },
      reasoning_effort: 'high',
      user: 'u1',
    });
  });

  it('parallel function calls become one assistant turn; an echoed reasoning item is not sent upstream', () => {
    const chat = translate({
      input: [
        { role: 'user', content: 'q' },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'plan' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{"a":1}' },
        { type: 'function_call_output', call_id: 'c1', output: 'r1' },
        { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'r2' }] },
      ],
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    expect(chat.messages).toEqual([
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } },
          { id: 'c2', type: 'function', function: { name: 'g', arguments: '{"a":1}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'r1' },
      { role: 'tool', tool_call_id: 'c2', content: 'r2' },
    ]);
    expect(chat.tools).toEqual([{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }]);
    expect(chat.tool_choice).toBe('required');
    expect(chat.parallel_tool_calls).toBe(false);
  });

  it('an assistant text turn followed by a call is one assistant message', () => {
    const chat = translate({
      input: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: [{ type: 'output_text', text: 'let me check' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      ],
    });
    expect(chat.messages[1]).toEqual({
      role: 'assistant',
      content: 'let me check',
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    });
  });

  it('json_schema format and a named tool choice', () => {
    const chat = translate({
      input: 'x',
      text: { format: { type: 'json_schema', name: 'n', schema: { type: 'object' }, description: 'd' } },
      tool_choice: { type: 'function', name: 'f' },
    });
    expect(chat.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object' }, description: 'd' } });
    expect(chat.tool_choice).toEqual({ type: 'function', function: { name: 'f' } });
  });

  it.each([
    [{ input: 'x', tools: [{ type: 'computer_use_preview' }] }, 'tools[0].type', 'unsupported_parameter'],
    [{ input: 'x', tools: [{ type: 'function', name: 'bad name' }] }, 'tools[0].name', 'invalid_value'],
    [{ input: 'x', background: true }, 'background', 'unsupported_parameter'],
    [{ input: 'x', prompt: { id: 'pmpt_1' } }, 'prompt', 'unsupported_parameter'],
    [{ input: 'x', truncation: 'auto' }, 'truncation', 'invalid_value'],
    [{ input: 'x', text: { verbosity: 'low' } }, 'text.verbosity', 'invalid_type'],
    [{ input: 'x', reasoning: { effort: 'low', encrypted: true } }, 'reasoning.encrypted', 'unknown_parameter'],
    [{ input: 'x', tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [] } }, 'tool_choice.type', 'unsupported_parameter'],
    [
      { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] },
      'input[0].content[0].file_id',
      'unsupported_parameter',
    ],
    [{ input: [{ role: 'user', content: [{ type: 'input_audio' }] }] }, 'input[0].content[0].type', 'unsupported_parameter'],
    [
      { input: [{ role: 'system', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] },
      'input[0].content',
      'unsupported_parameter',
    ],
    [{ input: [{ type: 'web_search_call', id: 'ws_1' }] }, 'input[0].type', 'unsupported_parameter'],
    [{ input: [{ type: 'function_call', call_id: 'c', name: 'f' }] }, 'input[0].arguments', 'missing_required_parameter'],
    [{ input: [{ role: 'tool', content: 'x' }] }, 'input[0].role', 'invalid_value'],
    [{ input: 'x', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', 'invalid_value'],
  ])('%j -> 400 naming %s', (body, param, code) => {
    const err = errorOf(() => translate(body as Record<string, unknown>));
    expect(err.status).toBe(400);
    expect(err.param).toBe(param);
    expect(err.code).toBe(code);
    expect(err.message).toContain(param);
  });

  it('background: false and include: [] are accepted (nothing to honour)', () => {
    expect(() => translate({ input: 'x', background: false, include: [], service_tier: 'auto', truncation: 'disabled' })).not.toThrow();
  });
});
