// Data access for the tenant control plane: tenants, their API keys, and usage reports.
// Rows are mapped to the admin API's JSON shapes here, so the HTTP layer only validates and routes.
import { sql, type Expression, type SqlBool } from 'kysely';
import type { Db } from './database.ts';
import { generateApiKey, hashApiKey, keyPrefix, newId } from './api-keys.ts';
import type { CacheSetting } from './schema.ts';

export interface Limits {
  rpm?: number;
  tpm?: number;
  max_concurrency?: number;
}

export interface Budget {
  usd: number;
  period: 'day' | 'month';
}

export interface TenantInput {
  name: string;
  allowed_models?: string[] | null;
  limits?: Limits | null;
  budget?: Budget | null;
  cache?: CacheSetting | null;
}

export type TenantPatch = Partial<TenantInput>;

export interface Tenant {
  id: string;
  object: 'tenant';
  name: string;
  allowed_models: string[] | null;
  limits: Limits | null;
  budget: Budget | null;
  cache: CacheSetting | null;
  created_at: string;
  updated_at: string;
}

export interface KeyInput {
  name?: string | null;
  expires_at?: Date | null;
  allowed_models?: string[] | null;
  limits?: Limits | null;
  cache?: CacheSetting | null;
}

export interface ApiKeyInfo {
  id: string;
  object: 'api_key';
  tenant_id: string;
  name: string | null;
  prefix: string;
  status: 'active' | 'revoked' | 'expired';
  allowed_models: string[] | null;
  limits: Limits | null;
  cache: CacheSetting | null;
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

export interface ListPage<T> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export interface ListOptions {
  limit: number;
  after?: string | undefined;
  order: 'asc' | 'desc';
}

export type UsageGroupBy = 'day' | 'model' | 'key';

export interface UsageRow {
  day?: string;
  model?: string;
  /** Group by key: the key's id (null for usage recorded without one). */
  key_id?: string | null;
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_usd: number;
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());
const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

type TenantRow = {
  id: string;
  name: string;
  allowed_models: string[] | null;
  limits: Record<string, number> | null;
  budget: Budget | null;
  cache: CacheSetting | null;
  created_at: Date;
  updated_at: Date;
};

function toTenant(r: TenantRow): Tenant {
  return {
    id: r.id,
    object: 'tenant',
    name: r.name,
    allowed_models: r.allowed_models,
    limits: r.limits,
    budget: r.budget,
    cache: r.cache,
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
  };
}

type KeyRow = {
  id: string;
  tenant_id: string;
  name: string | null;
  key_prefix: string;
  allowed_models: string[] | null;
  limits: Record<string, number> | null;
  cache: CacheSetting | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
};

const KEY_COLUMNS = [
  'id',
  'tenant_id',
  'name',
  'key_prefix',
  'allowed_models',
  'limits',
  'cache',
  'expires_at',
  'revoked_at',
  'created_at',
] as const;

function toKey(r: KeyRow, now = Date.now()): ApiKeyInfo {
  const status = r.revoked_at ? 'revoked' : r.expires_at && new Date(r.expires_at).getTime() <= now ? 'expired' : 'active';
  return {
    id: r.id,
    object: 'api_key',
    tenant_id: r.tenant_id,
    name: r.name,
    prefix: r.key_prefix,
    status,
    allowed_models: r.allowed_models,
    limits: r.limits,
    cache: r.cache,
    expires_at: iso(r.expires_at),
    revoked_at: iso(r.revoked_at),
    created_at: iso(r.created_at)!,
  };
}

function page<T extends { id: string }>(rows: T[], limit: number): ListPage<T> {
  const data = rows.slice(0, limit);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rows.length > limit };
}

/**
 * Keyset pagination on (created_at, id) relative to the cursor row, compared inside SQL so the
 * timestamp keeps its microseconds.
 */
function afterCursor(table: 'tenants' | 'api_keys', after: string, order: 'asc' | 'desc'): Expression<SqlBool> {
  const op = sql.raw(order === 'asc' ? '>' : '<');
  return sql<SqlBool>`(created_at, id) ${op} (select c.created_at, c.id from ${sql.table(table)} c where c.id = ${after})`;
}

// ---- tenants ----

export async function createTenant(db: Db, input: TenantInput): Promise<Tenant> {
  const row = await db
    .insertInto('tenants')
    .values({
      id: newId('tenant'),
      name: input.name,
      allowed_models: input.allowed_models ?? null,
      limits: json(input.limits),
      budget: json(input.budget),
      cache: json(input.cache),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toTenant(row);
}

export async function getTenant(db: Db, id: string): Promise<Tenant | null> {
  const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toTenant(row) : null;
}

/** Returns null when the `after` cursor names no tenant. */
export async function listTenants(db: Db, opts: ListOptions): Promise<ListPage<Tenant> | null> {
  if (opts.after && !(await db.selectFrom('tenants').select('id').where('id', '=', opts.after).executeTakeFirst())) return null;
  let q = db.selectFrom('tenants').selectAll();
  if (opts.after) q = q.where(afterCursor('tenants', opts.after, opts.order));
  const rows = await q
    .orderBy('created_at', opts.order)
    .orderBy('id', opts.order)
    .limit(opts.limit + 1)
    .execute();
  return page(rows.map(toTenant), opts.limit);
}

/** Fields present in the patch replace the stored ones (null clears); absent fields stay. */
export async function updateTenant(db: Db, id: string, patch: TenantPatch): Promise<Tenant | null> {
  const set: Record<string, unknown> = { updated_at: sql`now()` };
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.allowed_models !== undefined) set.allowed_models = patch.allowed_models;
  if (patch.limits !== undefined) set.limits = json(patch.limits);
  if (patch.budget !== undefined) set.budget = json(patch.budget);
  if (patch.cache !== undefined) set.cache = json(patch.cache);
  const row = await db.updateTable('tenants').set(set).where('id', '=', id).returningAll().executeTakeFirst();
  return row ? toTenant(row) : null;
}

// ---- API keys ----

/** Creates a key for an existing tenant; returns null when the tenant does not exist. */
export async function createKey(db: Db, tenantId: string, input: KeyInput): Promise<(ApiKeyInfo & { key: string }) | null> {
  const key = generateApiKey();
  const row = await db
    .insertInto('api_keys')
    .columns(['id', 'tenant_id', 'name', 'key_hash', 'key_prefix', 'allowed_models', 'limits', 'expires_at', 'cache'])
    // INSERT ... SELECT from tenants: the tenant check and the insert are one statement, so a missing
    // tenant inserts nothing instead of raising a foreign-key error.
    .expression(
      db
        .selectFrom('tenants')
        .select([
          sql<string>`${newId('key')}::text`.as('id'),
          'id as tenant_id',
          sql<string | null>`${input.name ?? null}::text`.as('name'),
          sql<string>`${hashApiKey(key)}::text`.as('key_hash'),
          sql<string>`${keyPrefix(key)}::text`.as('key_prefix'),
          sql<string[] | null>`${input.allowed_models ?? null}::text[]`.as('allowed_models'),
          sql<string | null>`${json(input.limits)}::jsonb`.as('limits'),
          sql<Date | null>`${input.expires_at ?? null}::timestamptz`.as('expires_at'),
          sql<string | null>`${json(input.cache)}::jsonb`.as('cache'),
        ])
        .where('id', '=', tenantId),
    )
    .returning([...KEY_COLUMNS])
    .executeTakeFirst();
  return row ? { ...toKey(row), key } : null;
}

/** Returns null when the tenant does not exist or the `after` cursor is not one of its keys. */
export async function listKeys(db: Db, tenantId: string, opts: ListOptions): Promise<ListPage<ApiKeyInfo> | null> {
  if (!(await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) return null;
  if (
    opts.after &&
    !(await db.selectFrom('api_keys').select('id').where('id', '=', opts.after).where('tenant_id', '=', tenantId).executeTakeFirst())
  )
    return null;
  let q = db
    .selectFrom('api_keys')
    .select([...KEY_COLUMNS])
    .where('tenant_id', '=', tenantId);
  if (opts.after) q = q.where(afterCursor('api_keys', opts.after, opts.order));
  const rows = await q
    .orderBy('created_at', opts.order)
    .orderBy('id', opts.order)
    .limit(opts.limit + 1)
    .execute();
  const now = Date.now();
  return page(
    rows.map((r) => toKey(r, now)),
    opts.limit,
  );
}

/** Revokes a key (idempotent: a second call keeps the first revocation time). Null when unknown. */
export async function revokeKey(db: Db, id: string): Promise<ApiKeyInfo | null> {
  const row = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`coalesce(revoked_at, now())` })
    .where('id', '=', id)
    .returning([...KEY_COLUMNS])
    .executeTakeFirst();
  return row ? toKey(row) : null;
}

// ---- usage ----

/**
 * Sums the per-request `usage` rows of one tenant with `received_at` in [from, to), grouped by UTC
 * day, by public model name or by API key. Only non-empty groups are returned.
 */
export async function usageReport(db: Db, tenantId: string, q: { from: Date; to: Date; groupBy: UsageGroupBy }): Promise<UsageRow[]> {
  const key =
    q.groupBy === 'day'
      ? sql<string>`to_char(received_at at time zone 'UTC', 'YYYY-MM-DD')`
      : q.groupBy === 'key'
        ? sql<string | null>`key_id`
        : sql<string>`model`;
  const rows = await db
    .selectFrom('usage')
    .select([
      key.as('grp'),
      sql<string>`count(*)`.as('requests'),
      sql<string>`coalesce(sum(input_tokens), 0)`.as('input_tokens'),
      sql<string>`coalesce(sum(cached_input_tokens), 0)`.as('cached_input_tokens'),
      sql<string>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
      sql<string>`coalesce(sum(reasoning_tokens), 0)`.as('reasoning_tokens'),
      sql<string>`coalesce(sum(cost_usd), 0)`.as('cost_usd'),
    ])
    .where('tenant_id', '=', tenantId)
    .where('received_at', '>=', q.from)
    .where('received_at', '<', q.to)
    .groupBy(key)
    .orderBy(key)
    .execute();
  return rows.map((r) => ({
    [q.groupBy === 'key' ? 'key_id' : q.groupBy]: r.grp,
    requests: Number(r.requests),
    input_tokens: Number(r.input_tokens),
    cached_input_tokens: Number(r.cached_input_tokens),
    output_tokens: Number(r.output_tokens),
    reasoning_tokens: Number(r.reasoning_tokens),
    // numeric(18,8) sums arrive as exact decimal strings; 8 places is the column's own precision.
    cost_usd: Math.round(Number(r.cost_usd) * 1e8) / 1e8,
  }));
}
