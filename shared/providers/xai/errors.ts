// xAI's flat `{"code":"<gRPC status text>","error":"<message>"}` -> OpenAI error envelope. xAI
// answers a wrong API key with 400; that is our key, so the client sees 502 like any upstream auth failure.
import { z } from 'zod';
import type { UpstreamError } from '../types.ts';
import { parseOpenAIErrorBody } from '../openai/errors.ts';
import { looksLikeModelNotFound, parseErrorResponse, upstreamError } from '../common/errors.ts';

const flatErrorSchema = z.object({ code: z.string().optional(), error: z.string() }).loose();

const CODES: Record<string, string> = {
  'Client specified an invalid argument': 'invalid_argument',
  'The caller does not have permission to execute the specified operation': 'permission_denied',
  'Some requested entity was not found': 'not_found',
  'Some resource has been exhausted': 'rate_limit_exceeded',
  'The request does not have valid authentication credentials for the operation': 'unauthenticated',
};

export function parseXaiError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  return parseErrorResponse(status, bodyText, headers, (json, fallbackMessage) => {
    const flat = flatErrorSchema.safeParse(json);
    // OpenAI-shaped or not JSON
    if (!flat.success) return parseOpenAIErrorBody(json === undefined ? { error: { message: fallbackMessage } } : json, status);
    const message = flat.data.error;
    const badKey = /api key/i.test(message) && (status === 400 || status === 401 || status === 403);
    const code = badKey
      ? 'upstream_auth_error'
      : looksLikeModelNotFound(status, message)
        ? 'model_not_found'
        : status === 429
          ? 'rate_limit_exceeded'
          : (CODES[flat.data.code ?? ''] ?? null);
    return upstreamError(badKey ? 401 : status, message, code);
  });
}
