import type { UpstreamError } from '../types.ts';
import { clientStatusFor, isRetryableStatus } from '../retry-hints.ts';
import { parseErrorResponse } from '../common/errors.ts';

/** `{"error":{message,type,param,code}}` (OpenAI, Groq) or xAI's flat `{"code","error"}`. */
export function parseOpenAIErrorBody(json: unknown, status: number): UpstreamError {
  const obj = (json ?? {}) as Record<string, unknown>;
  const inner = obj.error;
  let message = 'upstream error';
  let type: string | undefined;
  let code: string | null = null;
  let param: string | null = null;
  if (inner && typeof inner === 'object') {
    const e = inner as Record<string, unknown>;
    message = String(e.message ?? message);
    type = typeof e.type === 'string' ? e.type : undefined;
    code = e.code === undefined || e.code === null ? null : String(e.code);
    param = typeof e.param === 'string' ? e.param : null;
    if (typeof e.status_code === 'number') status = e.status_code;
  } else if (typeof inner === 'string') {
    message = inner;
    code = typeof obj.code === 'string' ? obj.code : null;
  }
  const clientStatus = clientStatusFor(status);
  return {
    status: clientStatus,
    retryable: isRetryableStatus(status),
    error: { message, type: type ?? (clientStatus >= 500 ? 'upstream_error' : 'invalid_request_error'), param, code },
  };
}

export function parseOpenAIError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  return parseErrorResponse(status, bodyText, headers, (json, fallbackMessage) =>
    parseOpenAIErrorBody(json === undefined ? { error: { message: fallbackMessage } } : json, status),
  );
}
