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
  /** Response cache setting (migration 0004_response_cache); null: off unless a key or request turns it on. */
  cache: ColumnType<CacheSetting | null, string | null | undefined, string | null>;
  /** Content guardrail names attached to the tenant; null: none. */
  guardrails: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** `{ttl_seconds}`: answers are cached that long; 0 turns caching off at this level. */
export interface CacheSetting {
  ttl_seconds: number;
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
  cache: ColumnType<CacheSetting | null, string | null | undefined, string | null>;
  /** Content guardrail names attached to the key; null: none. */
  guardrails: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
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
  /** Answered from the response cache: no upstream call, cost 0. */
  cache_hit: ColumnType<boolean, boolean | undefined, boolean>;
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

// ---- Batch API, files and async requests (migration 0002_batch_files_async) ----
type MaybeTime = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T | null, string | null | undefined, string | null>;
type Counter = ColumnType<number, number | undefined, number>;

export interface FilesTable {
  id: string;
  seq: Generated<string>;
  tenant_id: string;
  purpose: string;
  filename: string;
  bytes: BigCount;
  line_count: number;
  meta: Json<{ endpoints: string[] }>;
  created_at: Timestamp;
  deleted_at: MaybeTime;
}

export interface FileChunksTable {
  file_id: string;
  chunk_no: number;
  data: Buffer;
}

export interface BatchesTable {
  id: string;
  seq: Generated<string>;
  tenant_id: string;
  key_id: string | null;
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: string;
  metadata: Json<Record<string, string>>;
  errors: Json<{ object: 'list'; data: Array<{ code: string; message: string; param: string | null; line: number | null }> }>;
  output_file_id: string | null;
  error_file_id: string | null;
  total: Counter;
  completed: Counter;
  failed: Counter;
  dispatched: Counter;
  created_at: Timestamp;
  in_progress_at: MaybeTime;
  expires_at: Timestamp;
  finalizing_at: MaybeTime;
  completed_at: MaybeTime;
  failed_at: MaybeTime;
  expired_at: MaybeTime;
  cancelling_at: MaybeTime;
  cancelled_at: MaybeTime;
  lease_owner: string | null;
  lease_until: MaybeTime;
}

export interface BatchResultsTable {
  batch_id: string;
  line_no: number;
  status_code: number;
  /** The output-file line's `response.body` (or error body), as JSON text. */
  body: string;
}

export interface AsyncRequestsTable {
  id: string;
  tenant_id: string;
  model: string;
  status: string;
  status_code: number | null;
  result: string | null;
  created_at: Timestamp;
  completed_at: MaybeTime;
  expires_at: Timestamp;
}

/** Stored Responses API responses (services/ingress/routes/responses.ts); JSON kept as text. */
export interface ResponsesTable {
  id: string;
  tenant_id: string;
  /** The `response` object as GET /v1/responses/{id} answers it. */
  body: string;
  /** The chat messages of the conversation up to and including this response (no instructions). */
  conversation: string;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface Database {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  usage: UsageTable;
  usage_daily: UsageDailyTable;
  files: FilesTable;
  file_chunks: FileChunksTable;
  batches: BatchesTable;
  batch_results: BatchResultsTable;
  async_requests: AsyncRequestsTable;
  responses: ResponsesTable;
}
