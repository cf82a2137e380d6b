// Circuit breaker per upstream target (`provider/model`), kept per worker process: after
// `failures` consecutive failures the target is skipped (requests go to their next target) for
// `cooldownMs`; then one probe request is let through (half-open): success closes it, failure
// opens it for another cooldown. Per-process state is enough here: every worker sees the failures
// itself within a few requests, and a shared breaker would put a KV round trip on every request.
import { metrics } from '../../shared/telemetry/metrics.ts';
import { targetLabels } from '../../shared/telemetry/target-labels.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

interface Circuit {
  state: BreakerState;
  failures: number;
  openedAt: number;
  probeStartedAt: number;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2 };
const MAX_CIRCUITS = 10_000;

export class Breakers {
  private readonly circuits = new Map<string, Circuit>();
  private readonly failures: number;
  private readonly cooldownMs: number;

  constructor(opts: { failures: number; cooldownMs: number }) {
    this.failures = Math.max(1, opts.failures);
    this.cooldownMs = opts.cooldownMs;
  }

  /** May a request go to `target` now? In half-open state only one probe at a time. */
  allow(target: string, now = Date.now()): boolean {
    const c = this.circuits.get(target);
    if (!c || c.state === 'closed') return true;
    if (c.state === 'open') {
      if (now - c.openedAt < this.cooldownMs) return false;
      this.set(target, c, 'half-open');
      c.probeStartedAt = now;
      return true;
    }
    // half-open: a probe is out; another one only if that one never reported (e.g. cancelled)
    if (now - c.probeStartedAt < this.cooldownMs) return false;
    c.probeStartedAt = now;
    return true;
  }

  success(target: string): void {
    const c = this.circuits.get(target);
    if (!c) return;
    c.failures = 0;
    if (c.state !== 'closed') this.set(target, c, 'closed');
  }

  failure(target: string, now = Date.now()): void {
    let c = this.circuits.get(target);
    if (!c) {
      // Targets come from tenant-chosen model names: forget the oldest closed circuit before growing past the cap.
      if (this.circuits.size >= MAX_CIRCUITS) {
        for (const [name, other] of this.circuits)
          if (other.state === 'closed') {
            this.circuits.delete(name);
            break;
          }
      }
      c = { state: 'closed', failures: 0, openedAt: 0, probeStartedAt: 0 };
      this.circuits.set(target, c);
      metrics.breakerState.set({ target: targetLabels.label(target) }, 0);
    }
    c.failures++;
    if (c.state === 'half-open' || (c.state === 'closed' && c.failures >= this.failures)) {
      c.openedAt = now;
      this.set(target, c, 'open');
    }
  }

  state(target: string): BreakerState {
    return this.circuits.get(target)?.state ?? 'closed';
  }

  private set(target: string, c: Circuit, state: BreakerState): void {
    c.state = state;
    metrics.breakerState.set({ target: targetLabels.label(target) }, STATE_VALUE[state]);
  }
}
