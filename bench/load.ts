// A small HTTP load generator with microsecond latency (autocannon rounds to whole milliseconds,
// too coarse for a sub-millisecond budget). Closed loop at fixed concurrency, or open loop at a
// fixed rate where latency counts from the moment a request was due, so a stall is not hidden
// (no coordinated omission).
import { Pool } from 'undici';

export interface LoadOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  connections: number;
  durationSeconds: number;
  /** Requests per second (open loop). Unset: as fast as `connections` allow (closed loop). */
  rate?: number;
  /**
   * Seconds of the same load run first and not counted (default 1): the pool opens its connections
   * and the gateway's new sockets and code paths warm up there, not in the measured tail.
   */
  warmupSeconds?: number;
  /** Before the clock starts, open every connection of the pool (20 rounds of `connections` at once). */
  openAllConnections?: boolean;
  /** Each measured request: when it was due (ms after the measured phase began) and its latency. */
  onSample?: (dueMs: number, latencyMs: number) => void;
}

export interface LoadResult {
  requests: number;
  ok: number;
  /** 2xx answers during the warm-up (not in the figures; a ledger check must still count them). */
  warmupOk: number;
  /** Every request that completed during the warm-up (and the connection-opening rounds), whatever its outcome. */
  warmupRequests: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Every request a runLoad() call sent and saw answered, its warm-up included: CPU time or allocation
 * measured around the call covers the warm-up too, so per-request figures divide by this, not by
 * `requests` (which would overstate them by (duration + warm-up) / duration: +10% for a 10 s load).
 */
export function served(r: Pick<LoadResult, 'requests' | 'warmupRequests'>): number {
  return r.requests + r.warmupRequests;
}

/** Median of `xs` (the mean of the middle two for an even count); levers, rounds and tracing summarise with it. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const u = new URL(opts.url);
  const pool = new Pool(u.origin, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const headers = { 'content-type': 'application/json', ...(opts.headers ?? {}) };
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const path = u.pathname + u.search;

  const warmupMs = (opts.warmupSeconds ?? 1) * 1000;
  let measureFrom = Infinity;
  let warmupOk = 0;
  let warmupRequests = 0;
  const once = async (due: number) => {
    let outcome: 'ok' | 'non2xx' | 'error';
    try {
      const res = await pool.request({ origin: u.origin, path, method: 'POST', headers, body: opts.body });
      await res.body.dump({ limit: Number.MAX_SAFE_INTEGER });
      outcome = res.statusCode >= 200 && res.statusCode < 300 ? 'ok' : 'non2xx';
    } catch {
      outcome = 'error';
    }
    if (due < measureFrom) {
      warmupRequests++;
      if (outcome === 'ok') warmupOk++;
      return;
    }
    if (outcome === 'ok') ok++;
    else if (outcome === 'non2xx') non2xx++;
    else errors++;
    const latency = performance.now() - due;
    latencies.push(latency);
    opts.onSample?.(due - measureFrom, latency);
  };

  if (opts.openAllConnections) {
    for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: opts.connections }, () => once(-Infinity)));
  }
  const start = performance.now();
  measureFrom = start + warmupMs;
  const end = measureFrom + opts.durationSeconds * 1000;
  if (opts.rate) {
    const interval = 1000 / opts.rate;
    const inflight = new Set<Promise<void>>();
    let i = 0;
    while (performance.now() < end) {
      const now = performance.now();
      while (start + i * interval <= now) {
        const p = once(start + i * interval);
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        i++;
      }
      // Sleep until the next request is due. (This loop used to yield with setImmediate, which kept
      // the load generator at 100% of a core for the whole run: on two cores that took half the
      // machine from the gateway under test, and the heavier the gateway, the more it inflated its
      // tail at a fixed rate.) A timer that fires late still counts from the due time.
      await new Promise((r) => setTimeout(r, Math.max(0, start + i * interval - performance.now())));
    }
    await Promise.all(inflight);
  } else {
    await Promise.all(
      Array.from({ length: opts.connections }, async () => {
        while (performance.now() < end) await once(performance.now());
      }),
    );
  }
  const elapsed = (performance.now() - measureFrom) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => +(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0).toFixed(3);
  return {
    requests: latencies.length,
    ok,
    warmupOk,
    warmupRequests,
    non2xx,
    errors,
    rps: Math.round(latencies.length / elapsed),
    p50: pct(0.5),
    p90: pct(0.9),
    p99: pct(0.99),
    max: pct(1),
  };
}
