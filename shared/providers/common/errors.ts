// Pieces of the OpenAI error envelope shared by the non-OpenAI dialects.
import { clientStatusFor, isRetryableStatus } from '../retry-hints.ts';
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

export function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Errors whose message talks about a model that does not exist get OpenAI's `model_not_found`. */
export function looksLikeModelNotFound(status: number, message: string): boolean {
  return status === 404 && /model/i.test(message);
}
