// Read queries behind the web console's live panels (services/ingress/routes/console-api.ts):
// requests and errors per minute from the usage ledger, and a tenant's latest batches.
import { sql } from 'kysely';
import type { Db } from './database.ts';

export interface ActivityMinute {
  /** Start of the UTC minute, ISO 8601. */
  minute: string;
  requests: number;
  errors: number;
}

/**
 * Requests and failed requests per minute over the last `minutes`, by `received_at`, for one tenant
 * or (null) all of them. Only minutes with traffic are returned; the ledger records a request once it ends.
 */
export async function recentActivity(db: Db, tenantId: string | null, minutes: number, now = new Date()): Promise<ActivityMinute[]> {
  const minute = sql<string>`to_char(date_trunc('minute', received_at at time zone 'UTC'), 'YYYY-MM-DD"T"HH24:MI:00"Z"')`;
  let q = db
    .selectFrom('usage')
    .select([minute.as('minute'), sql<string>`count(*)`.as('requests'), sql<string>`count(*) filter (where status = 'error')`.as('errors')])
    .where('received_at', '>=', new Date(now.getTime() - minutes * 60_000));
  if (tenantId !== null) q = q.where('tenant_id', '=', tenantId);
  const rows = await q.groupBy(minute).orderBy(minute).execute();
  return rows.map((r) => ({ minute: r.minute, requests: Number(r.requests), errors: Number(r.errors) }));
}

/** A tenant's newest batches (the console shows their progress). */
export function recentBatches(db: Db, tenantId: string, limit: number) {
  return db.selectFrom('batches').selectAll().where('tenant_id', '=', tenantId).orderBy('seq', 'desc').limit(limit).execute();
}
