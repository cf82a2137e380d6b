// OpenAI Batch API: POST /v1/batches, GET /v1/batches/{id}, GET /v1/batches (limit/after, has_more),
// POST /v1/batches/{id}/cancel. The ingress only records the batch; services/batch runs it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Db } from '../../shared/db/database.ts';
import { getFile } from '../../shared/db/files.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import { validate } from '../../shared/protocol/request-errors.ts';
import { BATCH_ENDPOINTS, isBatchEndpoint } from '../batch/lines.ts';
import { batchObject, newBatchId } from '../batch/store.ts';
import { cursorSeq, listBody, listLimit } from './pagination.ts';
import { principalOf } from './principal.ts';
import { documentRoute } from './openapi/registry.ts';
import { batchSchema, listOf, pageQuery } from './openapi/schemas.ts';

export interface BatchesOptions {
  db: Db;
  authenticate: (req: FastifyRequest) => Promise<void>;
  /** Tells the batch runners a batch is waiting (they otherwise find it at their next claim poll). */
  onCreated?: () => void;
}

const createSchema = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.string(),
  completion_window: z.literal('24h'),
  metadata: z.record(z.string(), z.string().max(512)).nullable().optional(),
});

const COMPLETION_WINDOW_MS = 24 * 3600 * 1000;

export async function batchesRoutes(app: FastifyInstance, opts: BatchesOptions): Promise<void> {
  const { db, authenticate, onCreated } = opts;

  app.post('/v1/batches', { onRequest: authenticate }, async (req) => {
    const body = validate(createSchema, req.body ?? {});
    const tenantId = principalOf(req).tenantId;
    if (!isBatchEndpoint(body.endpoint)) {
      throw new ApiError(400, `Invalid value for 'endpoint': supported are ${Object.keys(BATCH_ENDPOINTS).join(', ')}.`, {
        param: 'endpoint',
        code: 'invalid_value',
      });
    }
    const file = await getFile(db, tenantId, body.input_file_id);
    if (!file) throw new ApiError(404, `No such File object: ${body.input_file_id}`, { param: 'input_file_id', code: 'not_found' });
    if (file.purpose !== 'batch') {
      throw new ApiError(400, `File ${file.id} has purpose '${file.purpose}', not 'batch'.`, {
        param: 'input_file_id',
        code: 'invalid_value',
      });
    }
    const other = (file.meta?.endpoints ?? []).find((e) => e !== body.endpoint);
    if (other) {
      throw new ApiError(400, `The input file has requests for ${other}; every line's url must be the batch endpoint ${body.endpoint}.`, {
        param: 'input_file_id',
        code: 'mismatched_endpoint',
      });
    }
    const now = new Date();
    const row = await db
      .insertInto('batches')
      .values({
        id: newBatchId(),
        tenant_id: tenantId,
        key_id: principalOf(req).keyId,
        endpoint: body.endpoint,
        input_file_id: file.id,
        completion_window: body.completion_window,
        status: 'validating',
        metadata: body.metadata ? JSON.stringify(body.metadata) : null,
        total: file.line_count,
        created_at: now,
        expires_at: new Date(now.getTime() + COMPLETION_WINDOW_MS),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    onCreated?.();
    return batchObject(row);
  });

  app.get<{ Params: { id: string } }>('/v1/batches/:id', { onRequest: authenticate }, async (req) => {
    const b = await db
      .selectFrom('batches')
      .selectAll()
      .where('id', '=', req.params.id)
      .where('tenant_id', '=', principalOf(req).tenantId)
      .executeTakeFirst();
    if (!b) throw notFound(req.params.id);
    return batchObject(b);
  });

  app.get<{ Querystring: { limit?: string; after?: string } }>('/v1/batches', { onRequest: authenticate }, async (req) => {
    const limit = listLimit(req.query.limit, { fallback: 20, max: 100 });
    const tenantId = principalOf(req).tenantId;
    let q = db.selectFrom('batches').selectAll().where('tenant_id', '=', tenantId);
    if (req.query.after) q = q.where('seq', '<', await cursorSeq(db, 'batches', tenantId, req.query.after));
    const rows = await q
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
    return listBody(rows, limit, batchObject);
  });

  app.post<{ Params: { id: string } }>('/v1/batches/:id/cancel', { onRequest: authenticate }, async (req) => {
    const tenantId = principalOf(req).tenantId;
    // Only a batch that is still open can be cancelled; the runner drains it and closes it (a batch whose
    // step keeps failing is closed as cancelled too, see giveUpBatch).
    const updated = await db
      .updateTable('batches')
      .set({ status: 'cancelling', cancelling_at: new Date() })
      .where('id', '=', req.params.id)
      .where('tenant_id', '=', tenantId)
      .where('status', 'in', ['validating', 'in_progress', 'finalizing'])
      .returningAll()
      .executeTakeFirst();
    if (updated) return batchObject(updated);
    const b = await db
      .selectFrom('batches')
      .selectAll()
      .where('id', '=', req.params.id)
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    if (!b) throw notFound(req.params.id);
    if (b.status === 'cancelling' || b.status === 'cancelled') return batchObject(b);
    throw new ApiError(409, `Cannot cancel a batch with status '${b.status}'.`, { code: 'invalid_state' });
  });
}

function notFound(id: string): ApiError {
  return new ApiError(404, `No batch found with id '${id}'.`, { param: 'id', code: 'not_found' });
}

// ---- OpenAPI (services/ingress/openapi) ----
const batchesDoc = { tags: ['Batches'], auth: 'tenant' } as const;
documentRoute('POST /v1/batches', {
  ...batchesDoc,
  summary: 'Create a batch from an uploaded file',
  body: createSchema,
  responses: { 200: batchSchema },
});
documentRoute('GET /v1/batches/:id', { ...batchesDoc, summary: 'Retrieve a batch', responses: { 200: batchSchema } });
documentRoute('GET /v1/batches', {
  ...batchesDoc,
  summary: 'List batches, newest first',
  query: pageQuery(20, 100),
  responses: { 200: listOf(batchSchema) },
});
documentRoute('POST /v1/batches/:id/cancel', { ...batchesDoc, summary: 'Cancel a batch', responses: { 200: batchSchema } });
