// Gemini `{"error":{code,message,status,details[]}}` -> OpenAI error envelope. The retry hint is in
// the body (`RetryInfo.retryDelay: "34s"`), not in a header.
import { z } from 'zod';
import type { UpstreamError } from '../types.ts';
import { looksLikeModelNotFound, parseErrorResponse, upstreamError } from '../common/errors.ts';

const errorBodySchema = z
  .object({
    error: z
      .object({
        code: z.number().optional(),
        message: z.string().optional(),
        status: z.string().optional(),
        details: z
          .array(z.object({ '@type': z.string().optional(), retryDelay: z.string().optional(), reason: z.string().optional() }).loose())
          .optional(),
      })
      .loose(),
  })
  .loose();

/** google.protobuf.Duration JSON: "34s", "0.5s", "1.250s". */
export function parseDuration(d: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(d.trim());
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

export function geminiErrorFromBody(json: unknown, httpStatus: number | undefined): UpstreamError {
  const parsed = errorBodySchema.safeParse(json);
  const e = parsed.success ? parsed.data.error : undefined;
  const status = httpStatus ?? e?.code ?? 500;
  const message = e?.message ?? 'upstream error';
  // A bad Gemini key is a 400 INVALID_ARGUMENT: it is our key, not the client's request.
  const badKey = e?.details?.some((d) => d.reason === 'API_KEY_INVALID') ?? false;
  const code = badKey
    ? 'upstream_auth_error'
    : status === 429
      ? 'rate_limit_exceeded'
      : looksLikeModelNotFound(status, message)
        ? 'model_not_found'
        : (e?.status?.toLowerCase() ?? null);
  const err = upstreamError(badKey ? 401 : status, message, code);
  const delay = e?.details?.find((d) => d.retryDelay !== undefined)?.retryDelay;
  const ms = delay ? parseDuration(delay) : undefined;
  if (ms !== undefined) err.retryAfterMs = ms;
  return err;
}

export function parseGeminiError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  // Some proxies answer with an array of one error object. The body's retryDelay wins over a header.
  return parseErrorResponse(status, bodyText, headers, (json, fallbackMessage) =>
    geminiErrorFromBody(Array.isArray(json) ? json[0] : (json ?? { error: { message: fallbackMessage } }), status),
  );
}
