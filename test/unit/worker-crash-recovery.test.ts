import { describe, expect, it } from 'vitest';
import { resumeAfterCrash, unwantedReason, type CrashRecoveryDeps } from '../../services/worker/crash-recovery.ts';
import type { EventBody, StreamEvent, Usage, UsageRecord } from '../../shared/protocol/events.ts';

const usage: Usage = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };

/** `last`: what every read-back returns, or a list of what each read returns in turn (an Error is thrown). */
function deps(last: StreamEvent | null | Error | Array<StreamEvent | null | Error>) {
  const seen = {
    emitted: [] as EventBody[],
    resent: [] as StreamEvent[],
    records: [] as Array<[Usage, UsageRecord['status'], Partial<UsageRecord> | undefined]>,
    acks: 0,
    reads: 0,
    working: 0,
  };
  const d: CrashRecoveryDeps = {
    lastEvent: async () => {
      const answer = Array.isArray(last) ? last[Math.min(seen.reads, last.length - 1)]! : last;
      seen.reads++;
      if (answer instanceof Error) throw answer;
      return answer;
    },
    working: () => void seen.working++,
    emit: (ev) => void seen.emitted.push(ev),
    resend: (ev) => void seen.resent.push(ev),
    record: async (u, status, extra) => void seen.records.push([u, status, extra]),
    ack: () => void seen.acks++,
  };
  return { d, seen };
}

const event = (body: EventBody): StreamEvent => ({ ...body, seq: 3, attempt: 1 }) as StreamEvent;

describe('resumeAfterCrash', () => {
  const quick = { tries: 3, pauseMs: 1 };

  it('runs the request again when nothing reached the client (no events stored)', async () => {
    const { d, seen } = deps(null);
    expect(await resumeAfterCrash(true, d, quick)).toBe(false);
    expect(seen).toMatchObject({ emitted: [], resent: [], records: [], acks: 0, reads: 1 });
  });

  it('retries a read-back that fails (LLM_EVENTS electing a leader) and acts on what it then finds', async () => {
    const done = event({ type: 'done', finish_reason: 'stop', usage, model: 'm', provider: 'openai', target: 'openai/m', attempts: 1 });
    const { d, seen } = deps([new Error('timeout'), new Error('503'), done]);
    expect(await resumeAfterCrash(true, d, quick)).toBe(true);
    expect(seen.reads).toBe(3);
    expect(seen.working).toBe(3); // the redelivery is held while it retries
    expect(seen.resent).toEqual([done]);
  });

  it('ends a stream with stream_interrupted when what was sent cannot be read back (never runs it again)', async () => {
    const { d, seen } = deps(new Error('timeout'));
    expect(await resumeAfterCrash(true, d, quick)).toBe(true);
    expect(seen.reads).toBe(3);
    expect(seen.emitted).toEqual([
      { type: 'error', status: 502, error: expect.objectContaining({ type: 'server_error', code: 'stream_interrupted' }) },
    ]);
    expect(seen.records[0]![2]).toEqual({ error_code: 'stream_interrupted' });
    expect(seen.acks).toBe(1);
  });

  it('runs a non-streaming request again when what was sent cannot be read back (nothing reached the client)', async () => {
    const { d, seen } = deps(new Error('timeout'));
    expect(await resumeAfterCrash(false, d, quick)).toBe(false);
    expect(seen).toMatchObject({ emitted: [], resent: [], records: [], acks: 0, reads: 3 });
  });

  it('sends the stored final event again as it was and records the usage again when the request had finished', async () => {
    const done = event({ type: 'done', finish_reason: 'stop', usage, model: 'm', provider: 'openai', target: 'openai/m', attempts: 1 });
    const { d, seen } = deps(done);
    expect(await resumeAfterCrash(true, d)).toBe(true);
    expect(seen.records).toEqual([[usage, 'ok', undefined]]);
    // Not a new event (it would get a new seq and attempt): the same one, for an ingress that missed it live.
    expect(seen.emitted).toEqual([]);
    expect(seen.resent).toEqual([done]);
    expect(seen.acks).toBe(1);
  });

  it('records a failure already told to the client under its code', async () => {
    const { d, seen } = deps(
      event({ type: 'error', status: 429, error: { message: 'slow', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } }),
    );
    expect(await resumeAfterCrash(false, d)).toBe(true);
    expect(seen.resent).toHaveLength(1);
    expect(seen.records[0]![1]).toBe('error');
    expect(seen.records[0]![2]).toEqual({ error_code: 'rate_limit_exceeded' });
    expect(seen.acks).toBe(1);
  });

  it('ends a partly streamed answer with stream_interrupted instead of repeating tokens', async () => {
    const { d, seen } = deps(event({ type: 'chunk', delta: { content: 'tok3' } }));
    expect(await resumeAfterCrash(true, d)).toBe(true);
    expect(seen.emitted).toEqual([
      { type: 'error', status: 502, error: expect.objectContaining({ type: 'server_error', code: 'stream_interrupted' }) },
    ]);
    expect(seen.records[0]![2]).toEqual({ error_code: 'stream_interrupted' });
    expect(seen.acks).toBe(1);
  });

  it('runs a non-streaming request again when its last event is not final', async () => {
    const { d, seen } = deps(event({ type: 'chunk', delta: { content: 'x' } }));
    expect(await resumeAfterCrash(false, d)).toBe(false);
    expect(seen.acks).toBe(0);
  });
});

describe('unwantedReason', () => {
  it('drops a cancelled request, then one past its deadline, and runs the rest', () => {
    expect(unwantedReason(true, 0)).toMatchObject({ code: 'cancelled', event: { type: 'error', status: 499 } });
    expect(unwantedReason(false, 1_000, 2_000)).toMatchObject({
      code: 'deadline_exceeded',
      event: { type: 'error', status: 504, error: { type: 'timeout_error', code: 'deadline_exceeded' } },
    });
    expect(unwantedReason(false, 3_000, 2_000)).toBeNull();
    expect(unwantedReason(false, 0, 2_000)).toBeNull();
  });
});
