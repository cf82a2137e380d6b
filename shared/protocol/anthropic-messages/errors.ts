// Switchyard's errors in Anthropic's envelope and status codes, so an Anthropic SDK raises the class
// it would raise against api.anthropic.com (AuthenticationError, RateLimitError, ...).
import type { ErrorBody } from '../errors.ts';

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

export interface AnthropicErrorEnvelope {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
  /** On HTTP error answers (not on a stream's error event), as Anthropic sends it. */
  request_id?: string;
}

/** Anthropic's status and error type for one of ours: 503 (overloaded, queue refused) is its 529. */
export function anthropicStatus(status: number): { status: number; type: AnthropicErrorType } {
  if (status === 401) return { status, type: 'authentication_error' };
  if (status === 402 || status === 403) return { status: 403, type: 'permission_error' };
  if (status === 404) return { status, type: 'not_found_error' };
  if (status === 413) return { status, type: 'request_too_large' };
  if (status === 429) return { status, type: 'rate_limit_error' };
  if (status === 503 || status === 529) return { status: 529, type: 'overloaded_error' };
  if (status >= 500) return { status: 500, type: 'api_error' };
  return { status: 400, type: 'invalid_request_error' };
}

export function anthropicError(status: number, error: Pick<ErrorBody, 'message'>): { status: number; body: AnthropicErrorEnvelope } {
  const mapped = anthropicStatus(status);
  return { status: mapped.status, body: { type: 'error', error: { type: mapped.type, message: error.message } } };
}
