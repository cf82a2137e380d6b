// Whether a series of memory samples settles or keeps climbing (bench/soak.ts). A peak says how high
// memory goes in a short run; an operator also needs to know that it stops there. The verdict compares
// the last third of the run with the middle third, after a warm-up, and fits a line through the last
// half, so one spike (a full collection late, a burst of streams) does not read as a leak.
import { median } from './load.ts';

export interface Sample {
  /** Seconds since the load began. */
  t: number;
  mb: number;
}

export interface Trend {
  /** Median of the samples in the middle third of the run (after `warmupSeconds`). */
  middleMb: number;
  /** Median of the samples in the last third. */
  lastMb: number;
  /** Least-squares slope through the last half of the run, MB per minute. */
  slopeMbPerMin: number;
  /** The highest sample of the whole run. */
  peakMb: number;
  /**
   * `settled` when the last third is within `toleranceMb` of the middle third and the last half's
   * slope would add less than `toleranceMb` over another run of the same length; `growing` otherwise.
   */
  verdict: 'settled' | 'growing';
}

/** Least-squares slope of mb over t (MB per second); 0 for fewer than two distinct times. */
export function slope(samples: Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mm = samples.reduce((a, s) => a + s.mb, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.t - mt) * (s.mb - mm);
    den += (s.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function trend(samples: Sample[], opts: { warmupSeconds: number; toleranceMb: number }): Trend {
  if (!samples.length) throw new Error('trend: no samples');
  const end = Math.max(...samples.map((s) => s.t));
  const start = Math.min(end, opts.warmupSeconds);
  const third = (end - start) / 3;
  const within = (a: number, b: number) => samples.filter((s) => s.t >= a && s.t <= b);
  const middle = within(start + third, start + 2 * third);
  const last = within(start + 2 * third, end);
  const lastHalf = within(start + (end - start) / 2, end);
  const middleMb = median(middle.map((s) => s.mb));
  const lastMb = median(last.map((s) => s.mb));
  const perSecond = slope(lastHalf);
  const projected = perSecond * (end - start);
  const verdict = lastMb - middleMb < opts.toleranceMb && projected < opts.toleranceMb ? 'settled' : 'growing';
  return {
    middleMb: +middleMb.toFixed(1),
    lastMb: +lastMb.toFixed(1),
    slopeMbPerMin: +(perSecond * 60).toFixed(2),
    peakMb: Math.max(...samples.map((s) => s.mb)),
    verdict,
  };
}
