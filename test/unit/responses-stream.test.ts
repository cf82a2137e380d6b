// The Responses SSE state machine (shared/protocol/responses/stream.ts) on chat deltas: event order,
// item ids and indexes, sequence numbers, and how items are closed on finish and on failure.
import { describe, expect, it } from 'vitest';
import { parseResponsesRequest } from '../../shared/protocol/responses/request.ts';
import { ResponseStream } from '../../shared/protocol/responses/stream.ts';

interface Ev {
  type: string;
  sequence_number: number;
  [k: string]: unknown;
}

function parse(frames: string): Ev[] {
  return frames
    .split('\n\n')
    .filter(Boolean)
    .map((frame) => {
      const [eventLine, dataLine] = frame.split('\n');
      const ev = JSON.parse(dataLine!.slice('data: '.length)) as Ev;
      expect(eventLine).toBe(`event: ${ev.type}`);
      return ev;
    });
}

function newStream() {
  const request = parseResponsesRequest({ model: 'openai/gpt-4o-mini', input: 'hi', metadata: { a: 'b' } });
  return new ResponseStream({ id: 'resp_1', created_at: 1, model: 'openai/gpt-4o-mini', request });
}

const usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12, completion_tokens_details: { reasoning_tokens: 2 } };

describe('ResponseStream', () => {
  it('reasoning, then text, then two tool calls: each item closes before the next opens', () => {
    const s = newStream();
    let frames = s.start();
    frames += s.delta({ role: 'assistant', reasoning_content: 'thinking' });
    frames += s.delta({ reasoning_content: ' more' });
    frames += s.delta({ content: 'Hello' });
    frames += s.delta({ content: ' world' });
    frames += s.delta({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"x"' } }] });
    frames += s.delta({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] });
    frames += s.delta({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }] });
    const { frames: tail, response } = s.finish({ finish_reason: 'tool_calls', usage });
    const events = parse(frames + tail);

    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const created = events[0]!.response as { status: string; output: unknown[]; usage: unknown; metadata: unknown };
    expect(created).toMatchObject({ status: 'in_progress', output: [], usage: null, metadata: { a: 'b' } });

    const added = events.filter((e) => e.type === 'response.output_item.added');
    expect(added.map((e) => e.output_index)).toEqual([0, 1, 2, 3]);
    const argsDone = events.filter((e) => e.type === 'response.function_call_arguments.done');
    expect(argsDone.map((e) => [e.name, e.arguments, e.output_index])).toEqual([
      ['f', '{"x":1}', 2],
      ['g', '{}', 3],
    ]);
    // Every delta names the item it belongs to.
    const textDeltas = events.filter((e) => e.type === 'response.output_text.delta');
    expect(new Set(textDeltas.map((e) => e.item_id))).toEqual(new Set([(added[1]!.item as { id: string }).id]));

    expect(response.status).toBe('completed');
    expect(response.output).toEqual([
      { type: 'reasoning', id: expect.stringMatching(/^rs_/), summary: [{ type: 'summary_text', text: 'thinking more' }] },
      {
        type: 'message',
        id: expect.stringMatching(/^msg_/),
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Hello world', annotations: [], logprobs: [] }],
      },
      { type: 'function_call', id: expect.stringMatching(/^fc_/), call_id: 'call_a', name: 'f', arguments: '{"x":1}', status: 'completed' },
      { type: 'function_call', id: expect.stringMatching(/^fc_/), call_id: 'call_b', name: 'g', arguments: '{}', status: 'completed' },
    ]);
    expect(response.usage).toEqual({
      input_tokens: 5,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 2 },
      total_tokens: 12,
    });
    expect(events.at(-1)!.response).toEqual(response);
  });

  it('finish_reason length ends with response.incomplete (max_output_tokens) and incomplete items', () => {
    const s = newStream();
    const frames = s.start() + s.delta({ content: 'cut' });
    const { frames: tail, response } = s.finish({ finish_reason: 'length', usage });
    const events = parse(frames + tail);
    expect(events.at(-1)!.type).toBe('response.incomplete');
    expect(response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(response.output[0]).toMatchObject({ type: 'message', status: 'incomplete' });
  });

  it('a failure mid-stream closes the open item as incomplete and ends with response.failed', () => {
    const s = newStream();
    const frames = s.start() + s.delta({ content: 'part' });
    const events = parse(
      frames + s.fail({ message: 'upstream broke', type: 'upstream_error', param: null, code: 'upstream_connection_error' }),
    );
    expect(events.slice(-4).map((e) => e.type)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.failed',
    ]);
    expect(events.at(-1)!.response).toMatchObject({
      status: 'failed',
      error: { code: 'upstream_connection_error', message: 'upstream broke' },
      output: [{ type: 'message', status: 'incomplete', content: [{ type: 'output_text', text: 'part' }] }],
    });
  });

  it('an answer with no tokens still completes, with an empty output', () => {
    const s = newStream();
    const opening = s.start();
    const { frames, response } = s.finish({ finish_reason: 'stop', usage });
    expect(parse(opening + frames).map((e) => e.type)).toEqual(['response.created', 'response.in_progress', 'response.completed']);
    expect(response.output).toEqual([]);
  });
});
