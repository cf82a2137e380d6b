import { describe, expect, it } from 'vitest';
import { AttemptRunner, type AttemptRunnerOptions, type RequestProgress } from '../../services/worker/attempts.ts';
import { AdapterError, type UpstreamError } from '../../shared/providers/types.ts';

const failure = (status: number, retryable: boolean, retryAfterMs?: number): UpstreamError => ({
  status,
  retryable,
  ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  error: { message: `upstream ${status}`, type: status >= 500 ? 'upstream_error' : 'rate_limit_error', param: null, code: null },
});

function progress(over: Partial<RequestProgress> = {}): RequestProgress {
  return {
    requestId: 'req-1',
    abort: new AbortController(),
    attempts: 0,
    estTokens: 10,
    target: 'openai/gpt-4o-mini',
    hasFallback: false,
    spoke: false,
    cancelled: false,
    ...over,
  };
}

/** A runner whose breakers and sleeps are recorded instead of felt. */
function runner(over: Partial<AttemptRunnerOptions> = {}) {
  const calls = { success: [] as string[], failure: [] as string[], sleeps: [] as number[] };
  const r = new AttemptRunner({
    breakers: { success: (t) => void calls.success.push(t), failure: (t) => void calls.failure.push(t) },
    hasFreeKey: () => false,
    maxRetries: 2,
    upstreamTimeoutMs: 60_000,
    fallbackTimeoutMs: 5_000,
    log: { debug: () => {} },
    sleep: async (ms) => void calls.sleeps.push(ms),
    random: () => 0.5,
    ...over,
  });
  return { r, calls };
}

/** An attempt that throws the given failures in turn, then answers 'ok'. */
function failing(...failures: UpstreamError[]) {
  let i = 0;
  return async () => {
    const f = failures[i++];
    if (f) throw new AdapterError(f);
    return 'ok';
  };
}

describe('AttemptRunner', () => {
  it('retries a retryable failure with exponential backoff and counts every attempt', async () => {
    const { r, calls } = runner();
    const job = progress();
    await expect(r.run(job, failing(failure(503, true), failure(503, true)), () => true)).resolves.toBe('ok');
    expect(job.attempts).toBe(3);
    expect(calls.sleeps).toEqual([100, 200]);
    expect(calls.failure).toEqual(['openai/gpt-4o-mini', 'openai/gpt-4o-mini']);
    expect(calls.success).toEqual(['openai/gpt-4o-mini']);
  });

  it('gives up after maxRetries and throws the last failure', async () => {
    const { r } = runner({ maxRetries: 1 });
    const job = progress();
    const err = await r.run(job, failing(failure(502, true), failure(504, true), failure(500, true)), () => true).catch((e: unknown) => e);
    expect((err as AdapterError).upstream.status).toBe(504);
    expect(job.attempts).toBe(2);
  });

  it('does not retry what is not retryable, nor what canRetry refuses, nor with a fallback left', async () => {
    for (const [job, canRetry, f] of [
      [progress(), true, failure(400, false)],
      [progress(), false, failure(503, true)],
      [progress({ hasFallback: true }), true, failure(503, true)],
    ] as const) {
      const { r, calls } = runner();
      await expect(r.run(job, failing(f), () => canRetry)).rejects.toBeInstanceOf(AdapterError);
      expect(job.attempts).toBe(1);
      expect(calls.sleeps).toEqual([]);
    }
  });

  it('waits for the retry hint when longer than the backoff, unless another key is free', async () => {
    const hinted = runner();
    await hinted.r.run(progress(), failing(failure(429, true, 2_500)), () => true);
    expect(hinted.calls.sleeps).toEqual([2_500]);

    const freeKey = runner({ hasFreeKey: (provider, model) => provider === 'openai' && model === 'gpt-4o-mini' });
    await freeKey.r.run(progress(), failing(failure(429, true, 2_500)), () => true);
    expect(freeKey.calls.sleeps).toEqual([100]);

    const capped = runner();
    await capped.r.run(progress(), failing(failure(429, true, 120_000)), () => true);
    expect(capped.calls.sleeps).toEqual([30_000]);
  });

  it('counts only health failures toward the breaker (a 429 is busy, not broken)', async () => {
    const { r, calls } = runner();
    await r.run(progress(), failing(failure(429, true)), () => true);
    expect(calls.failure).toEqual([]);
  });

  it('neither retries nor blames the target when the request was cancelled', async () => {
    const { r, calls } = runner();
    const job = progress({ cancelled: true });
    await expect(
      r.run(
        job,
        async () => {
          throw new Error('aborted');
        },
        () => true,
      ),
    ).rejects.toThrow('aborted');
    expect(calls.failure).toEqual([]);
    expect(calls.sleeps).toEqual([]);
  });

  it('uses the shorter fallback timeout while another target is left', () => {
    const { r } = runner();
    expect(r.timeoutFor(progress())).toBe(60_000);
    expect(r.timeoutFor(progress({ hasFallback: true }))).toBe(5_000);
  });
});
