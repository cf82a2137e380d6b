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
}

export interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
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

  const once = async (due: number) => {
    try {
      const res = await pool.request({ origin: u.origin, path, method: 'POST', headers, body: opts.body });
      await res.body.dump({ limit: Number.MAX_SAFE_INTEGER });
      if (res.statusCode >= 200 && res.statusCode < 300) ok++;
      else non2xx++;
    } catch {
      errors++;
    }
    latencies.push(performance.now() - due);
  };

  const start = performance.now();
  const end = start + opts.durationSeconds * 1000;
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
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(inflight);
  } else {
    await Promise.all(
      Array.from({ length: opts.connections }, async () => {
        while (performance.now() < end) await once(performance.now());
      }),
    );
  }
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => +(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0).toFixed(3);
  return {
    requests: latencies.length,
    ok,
    non2xx,
    errors,
    rps: Math.round(latencies.length / elapsed),
    p50: pct(0.5),
    p90: pct(0.9),
    p99: pct(0.99),
    max: pct(1),
  };
}
