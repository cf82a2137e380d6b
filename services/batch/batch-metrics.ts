// Batch progress in /metrics, read from the database when scraped (at most every 5 s), so every
// runner process reports the same totals and no request path pays for it.
import { sql } from 'kysely';
import { Gauge } from 'prom-client';
import type { Db } from '../../shared/db/database.ts';
import { registry } from '../../shared/telemetry/metrics.ts';
import { ACTIVE_STATUSES } from './store.ts';

interface BatchSample {
  byStatus: Array<{ status: string; n: number }>;
  lines: { total: number; dispatched: number; completed: number; failed: number };
}

export function registerBatchProgress(db: Db): void {
  if (registry.getSingleMetric('switchyard_batches')) return;
  let last = 0;
  let cache: BatchSample | null = null;
  const sample = async (): Promise<BatchSample | null> => {
    if (Date.now() - last < 5_000) return cache;
    last = Date.now();
    try {
      const byStatus = await sql<{ status: string; n: string }>`select status, count(*) as n from batches group by status`.execute(db);
      const lines = await sql<{ total: string | null; dispatched: string | null; completed: string | null; failed: string | null }>`
        select sum(total) as total, sum(dispatched) as dispatched, sum(completed) as completed, sum(failed) as failed
        from batches where status in (${sql.join(ACTIVE_STATUSES)})`.execute(db);
      const l = lines.rows[0];
      cache = {
        byStatus: byStatus.rows.map((r) => ({ status: r.status, n: Number(r.n) })),
        lines: {
          total: Number(l?.total ?? 0),
          dispatched: Number(l?.dispatched ?? 0),
          completed: Number(l?.completed ?? 0),
          failed: Number(l?.failed ?? 0),
        },
      };
    } catch {
      cache = null; // database away: no sample this time
    }
    return cache;
  };
  new Gauge({
    name: 'switchyard_batches',
    help: 'Batches by status (sampled from the database)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of (await sample())?.byStatus ?? []) this.set({ status: s.status }, s.n);
    },
  });
  new Gauge({
    name: 'switchyard_batch_active_lines',
    help: 'Lines of batches still running, by state: total, dispatched, completed, failed (sampled from the database)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const s = await sample();
      if (s) for (const [state, n] of Object.entries(s.lines)) this.set({ state }, n);
    },
  });
}
