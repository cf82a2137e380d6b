// One target's upstream calls for one request: retries with jittered backoff and the upstream's
// retry hint, breaker and metric bookkeeping per attempt. Moving to another target is walkTargets'
// job (fallback.ts); this gives up early whenever one is left.
import type { UpstreamError } from '../../shared/providers/types.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { metrics } from '../../shared/telemetry/metrics.ts';
import type { Breakers } from './breaker.ts';
import { isHealthFailure, type WalkState } from './fallback.ts';
import { toFailure } from './failures.ts';

/** A request's progress through its targets and attempts. */
export interface RequestProgress extends WalkState {
  requestId: string;
  abort: AbortController;
  /** Upstream calls made for this request, counting earlier deliveries as one each. */
  attempts: number;
  /** Estimated tokens, for upstream-key tpm limiters. */
  estTokens: number;
}

export interface AttemptRunnerOptions {
  breakers: Pick<Breakers, 'success' | 'failure'>;
  /** Another key of the provider has room: a retry hint of one exhausted key need not hold us. */
  hasFreeKey: (provider: string, model: string) => boolean;
  maxRetries: number;
  upstreamTimeoutMs: number;
  fallbackTimeoutMs: number;
  log: Pick<Logger, 'debug'>;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

export class AttemptRunner {
  private readonly opts: AttemptRunnerOptions;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;

  constructor(opts: AttemptRunnerOptions) {
    this.opts = opts;
    this.sleep = opts.sleep ?? sleep;
    this.random = opts.random ?? Math.random;
  }

  /** Calls the upstream with retries on retryable errors, honouring retry hints. */
  async run<T>(job: RequestProgress, attempt: () => Promise<T>, canRetry: () => boolean): Promise<T> {
    const { breakers, maxRetries, log } = this.opts;
    const provider = job.target.slice(0, job.target.indexOf('/'));
    for (let i = 0; ; i++) {
      job.attempts++;
      try {
        const out = await attempt();
        breakers.success(job.target);
        metrics.upstreamRequests.inc({ provider, outcome: 'ok' });
        return out;
      } catch (err) {
        const failure = toFailure(err, job.cancelled);
        if (!job.cancelled) {
          metrics.upstreamRequests.inc({ provider, outcome: String(failure.status) });
          if (isHealthFailure(failure)) breakers.failure(job.target);
        }
        if (job.cancelled || !failure.retryable || i >= maxRetries || !canRetry()) throw err;
        // Another target is left: it answers sooner than a backoff on this one (walkTargets moves on).
        if (job.hasFallback) throw err;
        metrics.retries.inc({ provider });
        const wait = this.retryWait(i, failure, provider, job.target.slice(provider.length + 1));
        log.debug({ requestId: job.requestId, status: failure.status, wait }, 'retrying upstream');
        await this.sleep(wait, job.abort.signal);
      }
    }
  }

  /** Jittered exponential backoff, or the upstream's hint when longer; never more than 30 s. */
  retryWait(retry: number, failure: UpstreamError, provider: string, model: string): number {
    const backoff = Math.min(8_000, 100 * 2 ** retry) * (0.5 + this.random());
    const hint = this.opts.hasFreeKey(provider, model) ? 0 : (failure.retryAfterMs ?? 0);
    return Math.min(30_000, Math.max(backoff, hint));
  }

  /** With a fallback target left, do not wait the full upstream timeout for this one. */
  timeoutFor(job: RequestProgress): number {
    const { upstreamTimeoutMs, fallbackTimeoutMs } = this.opts;
    return job.hasFallback ? Math.min(fallbackTimeoutMs, upstreamTimeoutMs) : upstreamTimeoutMs;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
