// Pieces of the OpenAI error envelope shared by the non-OpenAI dialects.
import { clientStatusFor, isRetryableStatus, retryAfterFromHeaders } from '../retry-hints.ts';
import type { UpstreamError } from '../types.ts';

/** OpenAI's `type` for a status the client will see. */
export function errorTypeFor(clientStatus: number): string {
  if (clientStatus === 429) return 'rate_limit_error';
  if (clientStatus === 404) return 'not_found_error';
  if (clientStatus >= 500) return 'upstream_error';
  return 'invalid_request_error';
}

/** The envelope for an upstream failure, with the client status chosen by `clientStatusFor`. */
export function upstreamError(
  upstreamStatus: number,
  message: string,
  code: string | null,
  clientStatus = clientStatusFor(upstreamStatus),
): UpstreamError {
  return {
    status: clientStatus,
    retryable: isRetryableStatus(upstreamStatus),
    error: { message, type: errorTypeFor(clientStatus), param: null, code },
  };
}

/**
 * The frame every adapter's `parseError` shares: the body read as JSON (undefined when it is not:
 * an HTML page from a proxy, an empty body), the dialect's own reading of it, given a message to use
 * when the body says nothing, and the retry hint of the headers when the body gave none.
 */
export function parseErrorResponse(
  status: number,
  bodyText: string,
  headers: Record<string, string | string[] | undefined>,
  fromBody: (json: unknown, fallbackMessage: string) => UpstreamError,
): UpstreamError {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    json = undefined;
  }
  const err = fromBody(json, bodyText.slice(0, 500) || `upstream answered HTTP ${status}`);
  if (err.retryAfterMs === undefined) {
    const fromHeaders = retryAfterFromHeaders(headers);
    if (fromHeaders !== undefined) err.retryAfterMs = fromHeaders;
  }
  return err;
}

/** Errors whose message talks about a model that does not exist get OpenAI's `model_not_found`. */
export function looksLikeModelNotFound(status: number, message: string): boolean {
  return status === 404 && /model/i.test(message);
}
