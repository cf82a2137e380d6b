// Response shapes for the OpenAPI document. Request schemas are the ones the routes validate with;
// responses are built by plain functions (render.ts, shared/db), so their shapes are written here,
// as loose objects: the fields a client relies on, while new fields stay compatible.
import { z } from 'zod';

const unixSeconds = z.number().int();
const nullableUnix = unixSeconds.nullable();

/** OpenAI's list envelope. */
export const listOf = (item: z.ZodType) =>
  z.object({
    object: z.literal('list'),
    data: z.array(item),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  });

const usage = z.looseObject({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });

export const chatCompletionSchema = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: unixSeconds,
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: z.number().int(),
      message: z.looseObject({ role: z.literal('assistant'), content: z.string().nullable() }),
      finish_reason: z.string().nullable(),
    }),
  ),
  usage: usage.optional(),
});

export const embeddingsResponseSchema = z.looseObject({
  object: z.literal('list'),
  data: z.array(
    z.looseObject({ object: z.literal('embedding'), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string()]) }),
  ),
  model: z.string(),
  usage: z.looseObject({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});

export const modelSchema = z.object({ id: z.string(), object: z.literal('model'), created: unixSeconds, owned_by: z.string() });

export const fileSchema = z.looseObject({
  id: z.string(),
  object: z.literal('file'),
  bytes: z.number().int(),
  created_at: unixSeconds,
  filename: z.string(),
  purpose: z.string(),
  status: z.string(),
});

export const batchSchema = z.looseObject({
  id: z.string(),
  object: z.literal('batch'),
  endpoint: z.string(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled']),
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  created_at: unixSeconds,
  in_progress_at: nullableUnix,
  completed_at: nullableUnix,
  request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
  metadata: z.record(z.string(), z.string()).nullable(),
});

export const asyncRequestSchema = z.looseObject({
  id: z.string(),
  object: z.literal('request'),
  model: z.string(),
  status: z.enum(['in_progress', 'completed', 'failed']),
  created_at: unixSeconds,
  completed_at: nullableUnix,
});

const limitsSchema = z
  .object({ rpm: z.number().int().optional(), tpm: z.number().int().optional(), max_concurrency: z.number().int().optional() })
  .nullable();

export const tenantSchema = z.object({
  id: z.string(),
  object: z.literal('tenant'),
  name: z.string(),
  allowed_models: z.array(z.string()).nullable(),
  limits: limitsSchema,
  budget: z.object({ usd: z.number(), period: z.enum(['day', 'month']) }).nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});

export const apiKeySchema = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  tenant_id: z.string(),
  name: z.string().nullable(),
  prefix: z.string(),
  status: z.enum(['active', 'revoked', 'expired']),
  allowed_models: z.array(z.string()).nullable(),
  limits: limitsSchema,
  expires_at: z.iso.datetime().nullable(),
  revoked_at: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
});

export const usageReportSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      day: z.string().optional(),
      model: z.string().optional(),
      key_id: z.string().nullable().optional(),
      requests: z.number().int(),
      input_tokens: z.number().int(),
      cached_input_tokens: z.number().int(),
      output_tokens: z.number().int(),
      reasoning_tokens: z.number().int(),
      cost_usd: z.number(),
    }),
  ),
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  group_by: z.enum(['day', 'model', 'key']),
});

/** `limit`/`after` of the list routes that read them without zod (pagination.ts clamps `limit`). */
export const pageQuery = (fallback: number, max: number) =>
  z.object({
    limit: z
      .number()
      .int()
      .min(1)
      .max(max)
      .default(fallback)
      .meta({ description: `At most ${max}; out-of-range values are clamped.` }),
    after: z.string().optional().meta({ description: 'The last id of the previous page.' }),
  });
