import { describe, expect, it } from 'vitest';
import { AttemptLock } from '../../services/ingress/attempt-lock.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

const usage = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
const chunk = (attempt: number, seq: number, content: string): StreamEvent => ({ type: 'chunk', attempt, seq, delta: { content } });
const done = (attempt: number, seq: number): StreamEvent => ({
  type: 'done',
  attempt,
  seq,
  finish_reason: 'stop',
  usage,
  model: 'm',
  provider: 'openai',
});
const failed = (attempt: number): StreamEvent => ({
  type: 'error',
  attempt,
  seq: 1,
  status: 429,
  error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' },
});

describe('AttemptLock: one attempt speaks to a streaming client', () => {
  it('passes every event of one attempt and locks on its first chunk', () => {
    const lock = new AttemptLock();
    const events = [chunk(1, 1, 'a'), chunk(1, 2, 'b'), done(1, 3)];
    expect(events.map((ev) => lock.admit(ev))).toEqual(events);
    expect(lock.locked).toBe(1);
  });

  it('lets a redelivered attempt speak when the first one sent nothing', () => {
    const lock = new AttemptLock();
    expect(lock.admit(chunk(2, 1, 'a'))).toEqual(chunk(2, 1, 'a'));
    expect(lock.admit(done(2, 2))).toEqual(done(2, 2));
  });

  it("drops another attempt's chunks once tokens are out, and ends the stream with stream_interrupted at its final event", () => {
    const lock = new AttemptLock();
    lock.admit(chunk(1, 1, 'tok0'));
    expect(lock.admit(chunk(2, 1, 'tok0'))).toBeNull();
    expect(lock.admit(chunk(2, 2, 'tok1'))).toBeNull();
    expect(lock.admit(done(2, 3))).toMatchObject({
      type: 'error',
      attempt: 2,
      status: 502,
      error: { type: 'server_error', code: 'stream_interrupted' },
    });
    // The speaking attempt, if it is still alive, is not cut off by the lock itself.
    expect(lock.admit(chunk(1, 2, 'tok1'))).toEqual(chunk(1, 2, 'tok1'));
  });

  it('passes an error of any attempt as it is', () => {
    const lock = new AttemptLock();
    lock.admit(chunk(1, 1, 'tok0'));
    expect(lock.admit(failed(2))).toEqual(failed(2));
  });
});
