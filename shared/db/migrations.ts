// Schema migrations, applied in order at start by every service that opens the database.
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('allowed_models', sql`text[]`)
        .addColumn('limits', 'jsonb')
        .addColumn('budget', 'jsonb')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('name', 'text')
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('key_prefix', 'text', (c) => c.notNull())
        .addColumn('allowed_models', sql`text[]`)
        .addColumn('limits', 'jsonb')
        .addColumn('expires_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('api_keys_tenant').on('api_keys').column('tenant_id').execute();
      await db.schema
        .createTable('usage')
        .addColumn('request_id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('upstream_model', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('input_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cached_input_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('output_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('reasoning_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cost_usd', sql`numeric(18,8)`, (c) => c.notNull().defaultTo(0))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('error_code', 'text')
        .addColumn('batch_id', 'text')
        .addColumn('received_at', 'timestamptz', (c) => c.notNull())
        .addColumn('first_token_at', 'timestamptz')
        .addColumn('completed_at', 'timestamptz', (c) => c.notNull())
        .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('usage_tenant_time').on('usage').columns(['tenant_id', 'received_at']).execute();
      await db.schema.createIndex('usage_batch').on('usage').column('batch_id').where(sql.ref('batch_id'), 'is not', null).execute();
      await db.schema
        .createTable('usage_daily')
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('requests', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('input_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('cached_input_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('output_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('reasoning_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('cost_usd', sql`numeric(18,8)`, (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('usage_daily_pk', ['day', 'tenant_id', 'model'])
        .execute();
    },
  },
  // ---- Batch API, files and async requests (services/batch, services/ingress/{files,batches,async-requests}.ts) ----
  '0002_batch_files_async': {
    async up(db: Kysely<unknown>) {
      // Files live in Postgres as ordered chunks (file_chunks), so uploads and downloads stream and
      // survive restarts of every process; see docs/batch.md for the size limits.
      await db.schema
        .createTable('files')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigserial', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('filename', 'text', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('line_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('meta', 'jsonb')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('deleted_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('files_tenant_seq').on('files').columns(['tenant_id', 'seq']).execute();
      await db.schema
        .createTable('file_chunks')
        .addColumn('file_id', 'text', (c) => c.notNull())
        .addColumn('chunk_no', 'integer', (c) => c.notNull())
        .addColumn('data', 'bytea', (c) => c.notNull())
        .addPrimaryKeyConstraint('file_chunks_pk', ['file_id', 'chunk_no'])
        .execute();
      await db.schema
        .createTable('batches')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigserial', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('endpoint', 'text', (c) => c.notNull())
        .addColumn('input_file_id', 'text', (c) => c.notNull())
        .addColumn('completion_window', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('metadata', 'jsonb')
        .addColumn('errors', 'jsonb')
        .addColumn('output_file_id', 'text')
        .addColumn('error_file_id', 'text')
        .addColumn('total', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('completed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('dispatched', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('in_progress_at', 'timestamptz')
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('finalizing_at', 'timestamptz')
        .addColumn('completed_at', 'timestamptz')
        .addColumn('failed_at', 'timestamptz')
        .addColumn('expired_at', 'timestamptz')
        .addColumn('cancelling_at', 'timestamptz')
        .addColumn('cancelled_at', 'timestamptz')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', 'timestamptz')
        .execute();
      await db.schema.createIndex('batches_tenant_seq').on('batches').columns(['tenant_id', 'seq']).execute();
      await db.schema
        .createIndex('batches_active')
        .on('batches')
        .column('seq')
        .where(sql<boolean>`status in ('validating', 'in_progress', 'finalizing', 'cancelling')`)
        .execute();
      // One row per finished line; the primary key makes a redelivered result count once.
      await db.schema
        .createTable('batch_results')
        .addColumn('batch_id', 'text', (c) => c.notNull())
        .addColumn('line_no', 'integer', (c) => c.notNull())
        .addColumn('status_code', 'integer', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('batch_results_pk', ['batch_id', 'line_no'])
        .execute();
      await db.schema
        .createTable('async_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('result', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('completed_at', 'timestamptz')
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('async_requests_expiry').on('async_requests').column('expires_at').execute();
    },
  },
  // ---- Responses API: stored responses for GET/DELETE and previous_response_id (routes/responses.ts) ----
  '0003_responses': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('responses')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('conversation', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('responses_expiry').on('responses').column('expires_at').execute();
    },
  },
  // ---- response cache (docs/caching.md): opt-in per tenant and per key; hits marked in the ledger ----
  '0004_response_cache': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tenants').addColumn('cache', 'jsonb').execute();
      await db.schema.alterTable('api_keys').addColumn('cache', 'jsonb').execute();
      await db.schema
        .alterTable('usage')
        .addColumn('cache_hit', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
    },
  },
  // ---- content guardrails attached per tenant and per key (shared/guardrails, docs/guardrails.md) ----
  '0005_guardrail_attachments': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('tenants')
        .addColumn('guardrails', sql`text[]`)
        .execute();
      await db.schema
        .alterTable('api_keys')
        .addColumn('guardrails', sql`text[]`)
        .execute();
    },
  },
};

class InlineMigrations implements MigrationProvider {
  async getMigrations() {
    return migrations;
  }
}

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const migrator = new Migrator({ db, provider: new InlineMigrations() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String((error as Error)?.message ?? error)}`);
  }
}
