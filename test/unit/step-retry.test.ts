import { describe, expect, it } from 'vitest';
import { StepRetry } from '../../services/batch/step-retry.ts';

describe('StepRetry', () => {
  it('backs off exponentially and gives up at the last attempt', () => {
    const r = new StepRetry(5, 1_000);
    expect([1, 2, 3, 4, 5].map(() => r.failed())).toEqual([
      { attempt: 1, giveUp: false, delayMs: 1_000 },
      { attempt: 2, giveUp: false, delayMs: 2_000 },
      { attempt: 3, giveUp: false, delayMs: 4_000 },
      { attempt: 4, giveUp: false, delayMs: 8_000 },
      { attempt: 5, giveUp: true, delayMs: 0 },
    ]);
  });

  it('caps the delay at 30 s and starts over after a success', () => {
    const r = new StepRetry(100, 10_000);
    r.failed();
    r.failed();
    expect(r.failed().delayMs).toBe(30_000);
    r.succeeded();
    expect(r.failed()).toEqual({ attempt: 1, giveUp: false, delayMs: 10_000 });
  });
});
