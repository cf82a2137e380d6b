// SSE frames of a chat stream and their resume ids (services/ingress/render.ts).
import { describe, expect, it } from 'vitest';
import { ChunkWriter, renderEvent, SSE_DONE } from '../../services/ingress/render.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
const done = { type: 'done', seq: 4, attempt: 1, finish_reason: 'stop', usage, model: 'm', provider: 'openai' } as unknown as StreamEvent;
const ids = (sse: string) => [...sse.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

describe('renderEvent resume ids', () => {
  const writer = (includeUsage: boolean) => new ChunkWriter('chatcmpl-x', 1, 'm', includeUsage);

  it('ids the finish chunk with the done seq and the usage chunk with the next one', () => {
    expect(ids(renderEvent(writer(false), done, false))).toEqual([4]);
    expect(ids(renderEvent(writer(true), done, true))).toEqual([4, 5]);
  });

  it('leaves out what the client saw, and always ends with [DONE]', () => {
    expect(renderEvent(writer(false), done, false, 4)).toBe(SSE_DONE);
    expect(ids(renderEvent(writer(true), done, true, 4))).toEqual([5]);
    expect(renderEvent(writer(true), done, true, 5)).toBe(SSE_DONE);
  });

  it('ids an error event with its seq; after it only [DONE]', () => {
    const err = {
      type: 'error',
      seq: 7,
      attempt: 1,
      status: 502,
      error: { message: 'x', type: 'server_error', param: null, code: null },
    } as StreamEvent;
    expect(renderEvent(writer(false), err, false)).toMatch(/^id: 7\nevent: error\n/);
    expect(renderEvent(writer(false), err, false, 7)).toBe(SSE_DONE);
  });
});
