// Bounded retries for one batch's steps: consecutive failures back off exponentially, and after
// `maxAttempts` the runner gives the batch up instead of retrying forever.
export interface StepFailure {
  /** 1 for the first failure in a row. */
  attempt: number;
  giveUp: boolean;
  /** How long to wait before the next attempt (0 when giving up). */
  delayMs: number;
}

const MAX_DELAY_MS = 30_000;

export class StepRetry {
  private failures = 0;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;

  constructor(maxAttempts: number, baseDelayMs: number) {
    this.maxAttempts = maxAttempts;
    this.baseDelayMs = baseDelayMs;
  }

  failed(): StepFailure {
    const attempt = ++this.failures;
    if (attempt >= this.maxAttempts) return { attempt, giveUp: true, delayMs: 0 };
    return { attempt, giveUp: false, delayMs: Math.min(MAX_DELAY_MS, this.baseDelayMs * 2 ** (attempt - 1)) };
  }

  succeeded(): void {
    this.failures = 0;
  }
}
