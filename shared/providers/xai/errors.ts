// xAI's flat `{"code":"<gRPC status text>","error":"<message>"}` -> OpenAI error envelope. xAI
// answers a wrong API key with 400; that is our key, so the client sees 502 like any upstream auth failure.
import { z } from 'zod';
import { retryAfterFromHeaders } from '../retry-hints.ts';
import type { UpstreamError } from '../types.ts';
import { parseOpenAIError } from '../openai/errors.ts';
import { looksLikeModelNotFound, parseJsonOrNull, upstreamError } from '../common/errors.ts';

const flatErrorSchema = z.object({ code: z.string().optional(), error: z.string() }).loose();

const CODES: Record<string, string> = {
  'Client specified an invalid argument': 'invalid_argument',
  'The caller does not have permission to execute the specified operation': 'permission_denied',
  'Some requested entity was not found': 'not_found',
  'Some resource has been exhausted': 'rate_limit_exceeded',
  'The request does not have valid authentication credentials for the operation': 'unauthenticated',
};

export function parseXaiError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  const flat = flatErrorSchema.safeParse(parseJsonOrNull(bodyText));
  if (!flat.success) return parseOpenAIError(status, bodyText, headers); // OpenAI-shaped or not JSON
  const message = flat.data.error;
  const badKey = /api key/i.test(message) && (status === 400 || status === 401 || status === 403);
  const code = badKey
    ? 'upstream_auth_error'
    : looksLikeModelNotFound(status, message)
      ? 'model_not_found'
      : status === 429
        ? 'rate_limit_exceeded'
        : (CODES[flat.data.code ?? ''] ?? null);
  const err = upstreamError(badKey ? 401 : status, message, code);
  const retryAfterMs = retryAfterFromHeaders(headers);
  if (retryAfterMs !== undefined) err.retryAfterMs = retryAfterMs;
  return err;
}
