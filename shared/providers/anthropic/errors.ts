// Anthropic `{"type":"error","error":{"type","message"},"request_id"}` -> OpenAI error envelope.
import { z } from 'zod';
import { clientStatusFor } from '../retry-hints.ts';
import type { UpstreamError } from '../types.ts';
import { looksLikeModelNotFound, parseErrorResponse, upstreamError } from '../common/errors.ts';

const errorBodySchema = z.object({ error: z.object({ type: z.string(), message: z.string() }).loose() }).loose();

/** Anthropic error types that carry their own HTTP status (used for mid-stream `event: error`). */
const STATUS_BY_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

/** 529 (overloaded) is Anthropic's own status; clients and SDKs know it as 503. */
function clientStatus(upstreamStatus: number): number {
  return upstreamStatus === 529 ? 503 : clientStatusFor(upstreamStatus);
}

export function anthropicErrorFromBody(json: unknown, status: number | undefined): UpstreamError {
  const parsed = errorBodySchema.safeParse(json);
  const type = parsed.success ? parsed.data.error.type : undefined;
  const message = parsed.success ? parsed.data.error.message : 'upstream error';
  const upstreamStatus = status ?? (type ? STATUS_BY_TYPE[type] : undefined) ?? 500;
  const code =
    upstreamStatus === 429 ? 'rate_limit_exceeded' : looksLikeModelNotFound(upstreamStatus, message) ? 'model_not_found' : (type ?? null);
  return upstreamError(upstreamStatus, message, code, clientStatus(upstreamStatus));
}

export function parseAnthropicError(
  status: number,
  bodyText: string,
  headers: Record<string, string | string[] | undefined>,
): UpstreamError {
  return parseErrorResponse(status, bodyText, headers, (json, fallbackMessage) =>
    anthropicErrorFromBody(json ?? { error: { type: 'api_error', message: fallbackMessage } }, status),
  );
}
