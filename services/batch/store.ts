// Batch rows in Postgres: the OpenAI `batch` object, durable per-line results, and finalization
// (output and error files written in the same transaction that closes the batch, so a crash at any
// point leaves either the old state, to be redone, or the finished one).
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { BatchesTable } from '../../shared/db/schema.ts';
import { ChunkSink, newFileId, readLines, type DbExec } from '../../shared/db/files.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { chatCompletionBody, embeddingsBody } from '../ingress/render.ts';
import { lineRequestId, parseStoredLine, resultLine, unexecutedLine } from './lines.ts';

export type BatchRow = Selectable<BatchesTable>;
export type BatchStatus = 'validating' | 'in_progress' | 'finalizing' | 'completed' | 'failed' | 'cancelling' | 'cancelled' | 'expired';
export const ACTIVE_STATUSES: BatchStatus[] = ['validating', 'in_progress', 'finalizing', 'cancelling'];

export function newBatchId(): string {
  return `batch_${randomBytes(12).toString('hex')}`;
}

const unix = (d: Date | string | null) => (d ? Math.floor(new Date(d).getTime() / 1000) : null);

/** The OpenAI `batch` object. */
export function batchObject(b: BatchRow) {
  return {
    id: b.id,
    object: 'batch' as const,
    endpoint: b.endpoint,
    errors: b.errors ?? null,
    input_file_id: b.input_file_id,
    completion_window: b.completion_window,
    status: b.status as BatchStatus,
    output_file_id: b.output_file_id,
    error_file_id: b.error_file_id,
    created_at: unix(b.created_at)!,
    in_progress_at: unix(b.in_progress_at),
    expires_at: unix(b.expires_at),
    finalizing_at: unix(b.finalizing_at),
    completed_at: unix(b.completed_at),
    failed_at: unix(b.failed_at),
    expired_at: unix(b.expired_at),
    cancelling_at: unix(b.cancelling_at),
    cancelled_at: unix(b.cancelled_at),
    request_counts: { total: b.total, completed: b.completed, failed: b.failed },
    metadata: b.metadata ?? null,
  };
}

export interface LineResult {
  batchId: string;
  index: number;
  statusCode: number;
  /** `response.body` as JSON text. */
  body: string;
}

/** Splits a request id `<batchId>-<index>` back into its parts. */
export function parseLineRequestId(requestId: string): { batchId: string; index: number } | null {
  const dash = requestId.lastIndexOf('-');
  if (dash <= 0) return null;
  const index = Number(requestId.slice(dash + 1));
  if (!Number.isInteger(index) || index < 1) return null;
  return { batchId: requestId.slice(0, dash), index };
}

/** A terminal worker event -> the line's response. Null for events that are not terminal. */
export function eventToLineResult(requestId: string, ev: StreamEvent): LineResult | null {
  const ids = parseLineRequestId(requestId);
  if (!ids) return null;
  const created = Math.floor(Date.now() / 1000);
  let statusCode: number;
  let body: unknown;
  if (ev.type === 'result' && ev.kind === 'chat') {
    statusCode = 200;
    body = chatCompletionBody(`chatcmpl-${requestId}`, created, ev.model, ev);
  } else if (ev.type === 'result' && ev.kind === 'embeddings') {
    statusCode = 200;
    body = embeddingsBody(ev.model, ev);
  } else if (ev.type === 'error') {
    statusCode = ev.status;
    body = { error: ev.error };
  } else return null;
  return { ...ids, statusCode, body: JSON.stringify(body) };
}

/**
 * Stores results exactly once (primary key batch_id + line_no) and counts only rows actually inserted.
 * The batch row is locked first, so a result racing finalization either lands before it or is dropped
 * because the batch is closed.
 */
export async function applyResults(db: DbExec, results: LineResult[]): Promise<StoredCounts> {
  const byBatch = new Map<string, LineResult[]>();
  for (const r of results) {
    const list = byBatch.get(r.batchId);
    if (list) list.push(r);
    else byBatch.set(r.batchId, [r]);
  }
  const stored: StoredCounts = { completed: 0, failed: 0 };
  await db.transaction().execute(async (trx) => {
    for (const [batchId, list] of [...byBatch].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const open = await trx
        .selectFrom('batches')
        .select('id')
        .where('id', '=', batchId)
        .where('status', 'in', ['in_progress', 'cancelling', 'finalizing'])
        .forUpdate()
        .executeTakeFirst();
      if (!open) continue; // closed (or unknown) batch: a late duplicate
      const unique = new Map(list.map((r) => [r.index, r]));
      const rows = await trx
        .insertInto('batch_results')
        .values([...unique.values()].map((r) => ({ batch_id: batchId, line_no: r.index, status_code: r.statusCode, body: r.body })))
        .onConflict((oc) => oc.columns(['batch_id', 'line_no']).doNothing())
        .returning('status_code')
        .execute();
      if (rows.length === 0) continue;
      const ok = rows.filter((r) => r.status_code === 200).length;
      await trx
        .updateTable('batches')
        .set((eb) => ({ completed: eb('completed', '+', ok), failed: eb('failed', '+', rows.length - ok) }))
        .where('id', '=', batchId)
        .execute();
      stored.completed += ok;
      stored.failed += rows.length - ok;
    }
  });
  return stored;
}

/** Lines applyResults stored now, by outcome: a duplicate or a line of a closed batch is not counted. */
export interface StoredCounts {
  completed: number;
  failed: number;
}

/**
 * Writes the output and error files and closes the batch, in one transaction. `from` is the status
 * the batch must still have (another runner may have closed it already); lines without a result are
 * written to the error file as cancelled or expired.
 */
export async function finalizeBatch(
  db: DbExec,
  batchId: string,
  from: BatchStatus,
  to: 'completed' | 'cancelled' | 'expired',
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const b = await trx
      .selectFrom('batches')
      .selectAll()
      .where('id', '=', batchId)
      .where('status', '=', from)
      .forUpdate()
      .executeTakeFirst();
    if (!b) return false;
    const out = new ChunkSink(trx, newFileId());
    const err = new ChunkSink(trx, newFileId());
    let outLines = 0;
    let errLines = 0;
    // Results are read in pages, merged with the input (in order) for the custom ids.
    let page: Array<{ line_no: number; status_code: number; body: string }> = [];
    let pos = 0;
    let after = 0;
    let exhausted = false;
    const nextResult = async (index: number) => {
      for (;;) {
        if (pos < page.length && page[pos]!.line_no < index) {
          pos++;
          continue;
        }
        if (pos < page.length) return page[pos]!.line_no === index ? page[pos]! : null;
        if (exhausted) return null;
        page = await trx
          .selectFrom('batch_results')
          .select(['line_no', 'status_code', 'body'])
          .where('batch_id', '=', batchId)
          .where('line_no', '>', after)
          .orderBy('line_no')
          .limit(1000)
          .execute();
        pos = 0;
        if (page.length === 0) {
          exhausted = true;
          return null;
        }
        after = page[page.length - 1]!.line_no;
      }
    };
    for await (const line of readLines(trx, b.input_file_id)) {
      const { custom_id } = parseStoredLine(line.text);
      const requestId = lineRequestId(batchId, line.index);
      const r = await nextResult(line.index);
      if (r && r.status_code === 200) {
        await out.write(resultLine(custom_id, requestId, r.status_code, r.body));
        outLines++;
      } else if (r) {
        await err.write(resultLine(custom_id, requestId, r.status_code, r.body));
        errLines++;
      } else {
        await err.write(unexecutedLine(custom_id, requestId, to === 'expired' ? 'batch_expired' : 'batch_cancelled'));
        errLines++;
      }
    }
    await out.finish();
    await err.finish();
    const files = [];
    if (outLines > 0)
      files.push({ id: out.fileId, name: `${batchId}_output.jsonl`, bytes: out.bytes, lines: outLines, purpose: 'batch_output' });
    if (errLines > 0)
      files.push({ id: err.fileId, name: `${batchId}_error.jsonl`, bytes: err.bytes, lines: errLines, purpose: 'batch_output' });
    for (const f of files) {
      await trx
        .insertInto('files')
        .values({ id: f.id, tenant_id: b.tenant_id, purpose: f.purpose, filename: f.name, bytes: f.bytes, line_count: f.lines })
        .execute();
    }
    // Orphan chunks of an empty file were never written (finish() writes nothing for 0 bytes).
    await trx.deleteFrom('batch_results').where('batch_id', '=', batchId).execute();
    const now = new Date();
    await trx
      .updateTable('batches')
      .set({
        status: to,
        ...(to === 'completed' ? { completed_at: now } : to === 'cancelled' ? { cancelled_at: now } : { expired_at: now }),
        output_file_id: outLines > 0 ? out.fileId : null,
        error_file_id: errLines > 0 ? err.fileId : null,
        lease_owner: null,
        lease_until: null,
      })
      .where('id', '=', batchId)
      .execute();
    return true;
  });
}

/**
 * Ends a batch whose step kept failing: `failed` with an OpenAI-shaped `errors` list, or `cancelled`
 * when it was cancelling (a cancel must end in `cancelled`, even when its output cannot be written).
 * Returns the new status, or null when the batch no longer had status `from`.
 */
export async function giveUpBatch(
  db: DbExec,
  batchId: string,
  from: BatchStatus,
  error: { code: string; message: string },
): Promise<'failed' | 'cancelled' | null> {
  const to = from === 'cancelling' ? 'cancelled' : 'failed';
  const now = new Date();
  return db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('batches')
      .set({
        status: to,
        ...(to === 'failed' ? { failed_at: now } : { cancelled_at: now }),
        errors: JSON.stringify({ object: 'list', data: [{ ...error, param: null, line: null }] }),
        lease_owner: null,
        lease_until: null,
      })
      .where('id', '=', batchId)
      .where('status', '=', from)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return null;
    await trx.deleteFrom('batch_results').where('batch_id', '=', batchId).execute();
    return to;
  });
}
