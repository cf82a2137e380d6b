// OpenAI Files API for the Batch API: POST /v1/files (multipart, purpose `batch`, JSONL),
// GET /v1/files, GET /v1/files/{id}, GET /v1/files/{id}/content, DELETE /v1/files/{id}.
// Uploads stream into Postgres chunk rows while every line is validated; a bad line fails the upload
// with a 400 naming the line number (nothing is stored). Downloads stream chunk by chunk.
import { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../../shared/db/database.ts';
import {
  ChunkSink,
  deleteFile,
  fileObject,
  getFile,
  newFileId,
  LineSplitter,
  LineTooLongError,
  readChunks,
  type FileRow,
  type Line,
} from '../../shared/db/files.ts';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import { LineValidator } from '../batch/lines.ts';
import { cursorSeq, listBody, listLimit } from './pagination.ts';
import { principalOf } from './principal.ts';
import { documentRoute } from './openapi/registry.ts';
import { fileSchema, listOf, pageQuery } from './openapi/schemas.ts';

export interface FilesOptions {
  config: SwitchyardConfig;
  db: Db;
  authenticate: (req: FastifyRequest) => Promise<void>;
  /** Longest accepted line: what one NATS message can carry (shared/nats/payload-limits.ts). */
  maxLineBytes: () => number;
}

export async function filesRoutes(app: FastifyInstance, opts: FilesOptions): Promise<void> {
  const { config, db, authenticate } = opts;
  await app.register(multipart, { limits: { fileSize: config.FILES_MAX_BYTES, files: 1, fields: 10, fieldSize: 1024 } });

  app.post('/v1/files', { onRequest: authenticate }, async (req, reply) => {
    if (!req.isMultipart()) throw new ApiError(400, "Send the file as multipart/form-data with fields 'file' and 'purpose'.");
    const principal = principalOf(req);
    const fileId = newFileId();
    const sink = new ChunkSink(db, fileId);
    let purpose: string | undefined;
    let filename: string | undefined;
    let lines = 0;
    let endpoints: string[] = [];
    let invalid: Error | null = null;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'field') {
          if (part.fieldname === 'purpose') {
            purpose = String(part.value);
            if (purpose !== 'batch') invalid ??= badPurpose(purpose);
          }
          continue;
        }
        if (part.fieldname !== 'file' || filename !== undefined) {
          part.file.resume();
          continue;
        }
        filename = part.filename || 'upload.jsonl';
        const validator = new LineValidator(principal, config.DEFAULT_PROVIDER, config.file, config.MAX_JSON_DEPTH);
        const maxLineBytes = opts.maxLineBytes();
        const splitter = new LineSplitter(maxLineBytes);
        const checkLines = (found: Line[]) => {
          for (const line of found) {
            validator.check(line.text, line.lineNo);
            lines = line.index;
            if (lines > config.BATCH_MAX_LINES)
              throw new ApiError(400, `A batch input file may have at most ${config.BATCH_MAX_LINES} requests.`, {
                param: 'file',
                code: 'too_many_lines',
              });
          }
        };
        // One loop reads the whole part: each chunk is split, checked and stored as it arrives. After the
        // first bad line the rest is only drained (neither stored nor buffered), so the client reads our
        // 400 instead of a reset connection.
        for await (const chunk of part.file as AsyncIterable<Buffer>) {
          if (invalid) continue;
          try {
            checkLines(splitter.push(chunk));
            await sink.write(chunk);
          } catch (err) {
            invalid = asUploadError(err, maxLineBytes);
          }
        }
        if (!invalid) {
          try {
            checkLines(splitter.end());
          } catch (err) {
            invalid = asUploadError(err, maxLineBytes);
          }
        }
        if (part.file.truncated)
          throw new ApiError(413, `The file is larger than the ${config.FILES_MAX_BYTES} bytes allowed.`, {
            param: 'file',
            code: 'file_too_large',
          });
        endpoints = [...validator.endpoints];
      }
      if (invalid) throw invalid;
      if (filename === undefined)
        throw new ApiError(400, "Missing required parameter: 'file'.", { param: 'file', code: 'missing_required_parameter' });
      if (purpose === undefined)
        throw new ApiError(400, "Missing required parameter: 'purpose'.", { param: 'purpose', code: 'missing_required_parameter' });
      if (lines === 0) throw new ApiError(400, 'The batch input file has no requests.', { param: 'file', code: 'empty_file' });
      await sink.finish();
      const row = await db
        .insertInto('files')
        .values({
          id: fileId,
          tenant_id: principal.tenantId,
          purpose,
          filename,
          bytes: sink.bytes,
          line_count: lines,
          meta: JSON.stringify({ endpoints }),
        })
        .returning(['id', 'purpose', 'filename', 'bytes', 'created_at'])
        .executeTakeFirstOrThrow();
      return reply.code(200).send(fileObject(row));
    } catch (err) {
      await db
        .deleteFrom('file_chunks')
        .where('file_id', '=', fileId)
        .execute()
        .catch(() => {});
      const e = err as { code?: string };
      if (isMalformedMultipart(err))
        throw new ApiError(400, `The multipart/form-data body could not be read: ${(err as Error).message}`, {
          code: 'invalid_multipart',
        });
      if (e?.code === 'FST_REQ_FILE_TOO_LARGE')
        throw new ApiError(413, `The file is larger than the ${config.FILES_MAX_BYTES} bytes allowed.`, {
          param: 'file',
          code: 'file_too_large',
        });
      throw err;
    }
  });

  app.get<{ Querystring: { limit?: string; after?: string; purpose?: string } }>('/v1/files', { onRequest: authenticate }, async (req) => {
    const limit = listLimit(req.query.limit, { fallback: 10_000, max: 10_000 });
    const tenantId = principalOf(req).tenantId;
    let q = db
      .selectFrom('files')
      .select(['id', 'seq', 'purpose', 'filename', 'bytes', 'created_at'])
      .where('tenant_id', '=', tenantId)
      .where('deleted_at', 'is', null);
    if (req.query.purpose) q = q.where('purpose', '=', req.query.purpose);
    if (req.query.after) q = q.where('seq', '<', await cursorSeq(db, 'files', tenantId, req.query.after));
    const rows = await q
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
    return listBody(rows, limit, fileObject);
  });

  const load = async (req: FastifyRequest<{ Params: { id: string } }>): Promise<FileRow> => {
    const f = await getFile(db, principalOf(req).tenantId, req.params.id);
    if (!f) throw new ApiError(404, `No such File object: ${req.params.id}`, { param: 'id', code: 'not_found' });
    return f;
  };

  app.get<{ Params: { id: string } }>('/v1/files/:id', { onRequest: authenticate }, async (req) => fileObject(await load(req)));

  app.get<{ Params: { id: string } }>('/v1/files/:id/content', { onRequest: authenticate }, async (req, reply) => {
    const f = await load(req);
    return reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(f.bytes))
      .header('content-disposition', contentDisposition(f.filename))
      .send(Readable.from(readChunks(db, f.id)));
  });

  app.delete<{ Params: { id: string } }>('/v1/files/:id', { onRequest: authenticate }, async (req) => {
    const f = await load(req);
    const inUse = await db
      .selectFrom('batches')
      .select('id')
      .where('input_file_id', '=', f.id)
      .where('status', 'in', ['validating', 'in_progress', 'finalizing', 'cancelling'])
      .executeTakeFirst();
    if (inUse) throw new ApiError(409, `File ${f.id} is the input of running batch ${inUse.id}.`, { code: 'file_in_use' });
    if (!(await deleteFile(db, principalOf(req).tenantId, f.id))) throw errors.notFound(`File '${f.id}'`);
    return { id: f.id, object: 'file', deleted: true };
  });
}

/** A line too long to be queued, or an invalid one: the 400 that names its line number. */
function asUploadError(err: unknown, maxLineBytes: number): Error {
  if (err instanceof LineTooLongError)
    return new ApiError(
      400,
      `Invalid batch input file, line ${err.lineNo}: longer than ${maxLineBytes} bytes, the largest request that can be queued.`,
      { param: 'file', code: 'line_too_long' },
    );
  if (err instanceof ApiError) return err;
  throw err;
}

function badPurpose(purpose: string): ApiError {
  return new ApiError(400, `Invalid value for 'purpose': '${purpose}'. Switchyard stores files for the Batch API only: use 'batch'.`, {
    param: 'purpose',
    code: 'invalid_value',
  });
}

/**
 * RFC 6266 / 5987: an ASCII fallback for old clients plus the exact UTF-8 name. A raw non-ASCII
 * header value makes Node refuse the whole response (a 500 instead of the file).
 */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  // encodeURIComponent leaves ' ( ) * unescaped, which RFC 5987's attr-char does not allow.
  const utf8 = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

/** The multipart parser (busboy) reports a broken body with plain Errors: no code, only these messages. */
function isMalformedMultipart(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof ApiError) return false;
  return /boundary|multipart data|needle/i.test(err.message);
}

// ---- OpenAPI (services/ingress/openapi) ----
const filesDoc = { tags: ['Files'], auth: 'tenant' } as const;
documentRoute('POST /v1/files', {
  ...filesDoc,
  summary: "Upload a JSONL batch input file (multipart fields 'file' and 'purpose=batch')",
  bodyContentType: 'multipart/form-data',
  responses: { 200: fileSchema },
});
documentRoute('GET /v1/files', {
  ...filesDoc,
  summary: 'List files',
  query: pageQuery(10_000, 10_000).extend({ purpose: z.string().optional() }),
  responses: { 200: listOf(fileSchema) },
});
documentRoute('GET /v1/files/:id', { ...filesDoc, summary: 'Retrieve a file', responses: { 200: fileSchema } });
documentRoute('GET /v1/files/:id/content', {
  ...filesDoc,
  summary: "Download a file's content",
  responses: { 200: { description: 'The JSONL content.', contentType: 'application/octet-stream' } },
});
documentRoute('DELETE /v1/files/:id', {
  ...filesDoc,
  summary: 'Delete a file',
  responses: { 200: z.object({ id: z.string(), object: z.literal('file'), deleted: z.literal(true) }) },
});
