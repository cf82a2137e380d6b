// Label values for upstream targets (`provider/model`) in /metrics. Model names are chosen by
// tenants, so used verbatim they would let anyone mint time series (1,000 bogus models = 1,000
// breaker series, kept for the process's life). Targets named in the config file always keep their
// name; other targets keep theirs while fewer than METRICS_MAX_TARGET_LABELS have been seen, then
// fall into `<provider>/other`.
import { PROVIDER_NAMES } from '../config/env.ts';

export class TargetLabels {
  private readonly configured = new Set<string>();
  private readonly seen = new Set<string>();
  private maxDistinct = 50;

  configure(opts: { maxDistinct: number; configured: Iterable<string> }): void {
    this.maxDistinct = opts.maxDistinct;
    for (const t of opts.configured) this.configured.add(t);
  }

  label(target: string): string {
    if (this.configured.has(target) || this.seen.has(target)) return target;
    if (this.seen.size < this.maxDistinct) {
      this.seen.add(target);
      return target;
    }
    const provider = target.slice(0, target.indexOf('/'));
    return (PROVIDER_NAMES as readonly string[]).includes(provider) ? `${provider}/other` : 'other';
  }
}

/** One per process, like the metrics registry it serves. */
export const targetLabels = new TargetLabels();
