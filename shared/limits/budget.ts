// Budget counters: one KV value per tenant and period holding spent + reserved USD. A request
// reserves its worst-case cost through a CAS-protected update before it is sent and the
// reservation is replaced by the real cost when it ends, so a burst of concurrent requests cannot
// overshoot. The ledger's usage rows stay the record of what was charged: a counter that does not
// exist yet (new period, lost KV) starts from the sum of the period's usage rows.
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

export type BudgetPeriod = 'day' | 'month';

export interface BudgetState {
  /** USD charged (reconciled) plus USD reserved by requests still running. */
  spent: number;
}

export function periodStart(period: BudgetPeriod, now: number): Date {
  const d = new Date(now);
  return period === 'day'
    ? new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
    : new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

/** Key part naming the period (UTC): `d20261125` or `m202611`. */
export function periodId(period: BudgetPeriod, now: number): string {
  const iso = new Date(now).toISOString();
  return period === 'day' ? `d${iso.slice(0, 10).replaceAll('-', '')}` : `m${iso.slice(0, 7).replace('-', '')}`;
}

/** Seconds until the period ends: the retry-after of a budget rejection. */
export function periodEndsInMs(period: BudgetPeriod, now: number): number {
  const start = periodStart(period, now);
  const end = period === 'day' ? start.getTime() + 86_400_000 : Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
  return end - now;
}

export async function spentInPeriod(db: Db, tenantId: string, period: BudgetPeriod, now: number): Promise<number> {
  const row = await db
    .selectFrom('usage')
    .select(sql<string>`coalesce(sum(cost_usd), 0)`.as('usd'))
    .where('tenant_id', '=', tenantId)
    .where('received_at', '>=', periodStart(period, now))
    .executeTakeFirst();
  return Number(row?.usd ?? 0);
}

/** Rounds to 1e-8 USD so repeated float additions do not drift. */
export function usd(n: number): number {
  return Math.round(n * 1e8) / 1e8;
}
