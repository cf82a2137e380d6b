// Batch input lines (`{custom_id, method, url, body}`) and output/error lines in OpenAI's exact shape.
// Validation runs while the upload streams in, so a bad line fails the upload naming its line number.
import { createHash } from 'node:crypto';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { FileConfig } from '../../shared/config/file.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import { chatCompletionRequestSchema, embeddingsRequestSchema } from '../../shared/protocol/openai.ts';
import { requestIssueError } from '../../shared/protocol/request-errors.ts';
import { exceedsJsonDepth } from '../../shared/protocol/json-depth.ts';
import { assertModelAllowed } from '../ingress/model-policy.ts';
import { resolveRoute } from '../ingress/routing.ts';

export const BATCH_ENDPOINTS = { '/v1/chat/completions': 'chat', '/v1/embeddings': 'embeddings' } as const;
export type BatchEndpoint = keyof typeof BATCH_ENDPOINTS;

export interface BatchLine {
  custom_id: string;
  method: 'POST';
  url: BatchEndpoint;
  body: Record<string, unknown> & { model: string };
}

export function isBatchEndpoint(url: unknown): url is BatchEndpoint {
  return typeof url === 'string' && Object.hasOwn(BATCH_ENDPOINTS, url);
}

/** Parses an already validated line (from a stored input file). */
export function parseStoredLine(text: string): BatchLine {
  return JSON.parse(text) as BatchLine;
}

/** Checks one uploaded line; throws an ApiError naming the line and the field. */
export class LineValidator {
  private readonly seen = new Set<string>();
  readonly endpoints = new Set<string>();
  private readonly principal: KeyPrincipal;
  private readonly defaultProvider: string;
  private readonly file: FileConfig | null | undefined;
  /** Deeper lines would fail in the worker anyway; refusing them names the line at upload. */
  private readonly maxJsonDepth: number;

  constructor(principal: KeyPrincipal, defaultProvider: string, file?: FileConfig | null, maxJsonDepth = 64) {
    this.principal = principal;
    this.defaultProvider = defaultProvider;
    this.file = file;
    this.maxJsonDepth = maxJsonDepth;
  }

  check(text: string, lineNo: number): void {
    const fail = (msg: string): never => {
      throw new ApiError(400, `Invalid batch input file, line ${lineNo}: ${msg}`, { param: 'file', code: 'invalid_batch_line' });
    };
    if (exceedsJsonDepth(text, this.maxJsonDepth)) return fail(`nests arrays and objects deeper than ${this.maxJsonDepth} levels`);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      return fail(`not valid JSON (${(err as Error).message})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) return fail('each line must be a JSON object');
    const line = v as Record<string, unknown>;
    if (typeof line.custom_id !== 'string' || line.custom_id === '') return fail("'custom_id' must be a non-empty string");
    if (this.seen.has(line.custom_id)) return fail(`duplicate custom_id '${line.custom_id}'`);
    this.seen.add(line.custom_id);
    if (line.method !== 'POST') return fail("'method' must be 'POST'");
    if (!isBatchEndpoint(line.url)) return fail(`'url' must be one of ${Object.keys(BATCH_ENDPOINTS).join(', ')}`);
    this.endpoints.add(line.url);
    const schema = BATCH_ENDPOINTS[line.url] === 'chat' ? chatCompletionRequestSchema : embeddingsRequestSchema;
    if (!line.body || typeof line.body !== 'object' || Array.isArray(line.body)) return fail("'body' must be a JSON object");
    const parsed = schema.safeParse(line.body);
    if (!parsed.success) {
      return fail(requestIssueError(parsed.error.issues[0]!, line.body, 'body.').message);
    }
    const model = (line.body as { model: string }).model;
    try {
      resolveRoute(model, this.defaultProvider, this.file);
      assertModelAllowed(this.principal, model);
    } catch (err) {
      return fail((err as Error).message);
    }
  }
}

/** Deterministic per line, so a line re-published after a crash is deduplicated by JetStream and the ledger. */
export function lineRequestId(batchId: string, index: number): string {
  return `${batchId}-${index}`;
}

export function outputLineId(requestId: string): string {
  return `batch_req_${createHash('sha256').update(requestId).digest('hex').slice(0, 24)}`;
}

/** One line of the output (status 200) or error file (any other status). */
export function resultLine(customId: string, requestId: string, statusCode: number, bodyJson: string): string {
  return `{"id":${JSON.stringify(outputLineId(requestId))},"custom_id":${JSON.stringify(customId)},"response":{"status_code":${statusCode},"request_id":${JSON.stringify(requestId)},"body":${bodyJson}},"error":null}\n`;
}

/** A line that never ran (batch cancelled or expired): no response, only an error. */
export function unexecutedLine(customId: string, requestId: string, code: 'batch_cancelled' | 'batch_expired'): string {
  const message =
    code === 'batch_expired'
      ? 'This request could not be executed before the completion window expired.'
      : 'This request was not executed because the batch was cancelled.';
  return `${JSON.stringify({ id: outputLineId(requestId), custom_id: customId, response: null, error: { code, message } })}\n`;
}
