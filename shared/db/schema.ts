// Kysely table types. Migrations in ./migrations.ts are the source of truth; keep these in step.
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Numeric = ColumnType<string, number | string, number | string>;
type BigCount = ColumnType<string, number | string | bigint, number | string | bigint>;

export interface TenantsTable {
  id: string;
  name: string;
  allowed_models: string[] | null;
  limits: ColumnType<Record<string, number> | null, string | null, string | null>;
  budget: ColumnType<{ usd: number; period: 'day' | 'month' } | null, string | null, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string | null;
  key_hash: string;
  key_prefix: string;
  allowed_models: string[] | null;
  limits: ColumnType<Record<string, number> | null, string | null, string | null>;
  expires_at: ColumnType<Date | null, Date | string | null, Date | string | null>;
  revoked_at: ColumnType<Date | null, Date | string | null, Date | string | null>;
  created_at: Timestamp;
}

export interface UsageTable {
  request_id: string;
  tenant_id: string;
  key_id: string | null;
  provider: string;
  model: string;
  upstream_model: string;
  kind: string;
  status: string;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_usd: Numeric;
  attempts: number;
  error_code: string | null;
  batch_id: string | null;
  received_at: Timestamp;
  first_token_at: ColumnType<Date | null, Date | string | null, Date | string | null>;
  completed_at: Timestamp;
  recorded_at: Generated<Date>;
}

export interface UsageDailyTable {
  day: ColumnType<string, string, string>;
  tenant_id: string;
  model: string;
  requests: BigCount;
  input_tokens: BigCount;
  cached_input_tokens: BigCount;
  output_tokens: BigCount;
  reasoning_tokens: BigCount;
  cost_usd: Numeric;
}

export interface Database {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  usage: UsageTable;
  usage_daily: UsageDailyTable;
}
