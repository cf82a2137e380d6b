// The OpenAI error envelope, used for every error Switchyard returns.

export interface ErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;
  /** The request may have reached the upstream before it failed: not a failure admission can refund. */
  readonly outcomeUnknown: boolean;

  constructor(
    status: number,
    message: string,
    opts: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string>; outcomeUnknown?: boolean } = {},
  ) {
    super(message);
    this.status = status;
    this.type = opts.type ?? defaultType(status);
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
    this.headers = opts.headers ?? {};
    this.outcomeUnknown = opts.outcomeUnknown ?? false;
  }

  toBody(): { error: ErrorBody } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function defaultType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export const errors = {
  invalidJson: (detail: string) =>
    new ApiError(400, `We could not parse the JSON body of your request. (${detail})`, { code: 'invalid_json' }),
  jsonTooDeep: (maxDepth: number) =>
    new ApiError(400, `The JSON body of your request nests arrays and objects deeper than ${maxDepth} levels.`, {
      code: 'json_too_deep',
    }),
  invalidField: (param: string, message: string) =>
    new ApiError(400, `Invalid value for '${param}': ${message}`, { param, code: 'invalid_value' }),
  missingKey: () =>
    new ApiError(401, "You didn't provide an API key. Provide it in the Authorization header as 'Bearer <key>'.", {
      code: 'missing_api_key',
    }),
  invalidKey: () => new ApiError(401, 'Incorrect API key provided.', { code: 'invalid_api_key' }),
  modelNotFound: (model: string) =>
    new ApiError(404, `The model '${model}' does not exist or you do not have access to it.`, {
      param: 'model',
      code: 'model_not_found',
    }),
  invalidCacheHeader: (value: string) =>
    new ApiError(400, `Invalid 'x-switchyard-cache' header '${value.slice(0, 64)}': use 'no-store' or a TTL in whole seconds.`, {
      param: 'x-switchyard-cache',
      code: 'invalid_cache_header',
    }),
  notFound: (what: string) => new ApiError(404, `${what} not found.`, { code: 'not_found' }),
  unavailable: (message: string, opts: { outcomeUnknown?: boolean } = {}) =>
    new ApiError(503, message, { type: 'server_error', code: 'service_unavailable', ...opts }),
  timeout: () => new ApiError(504, 'The request timed out before the upstream answered.', { type: 'server_error', code: 'timeout' }),
  // ---- Responses API (services/ingress/routes/responses.ts) ----
  /** A field Switchyard understands but cannot honour on the chat path (built-in tools, background, ...). */
  /** A request feature Switchyard itself does not serve (e.g. a Responses built-in tool), for any provider. */
  featureNotServed: (param: string, why: string) =>
    new ApiError(400, `'${param}' is not supported: ${why}.`, { param, code: 'unsupported_parameter' }),
  responseNotFound: (id: string) => new ApiError(404, `Response with id '${id}' not found.`, { code: 'response_not_found' }),
  responseNotStored: () =>
    new ApiError(500, 'The response was generated but could not be stored; retry the request.', {
      type: 'server_error',
      code: 'response_not_stored',
    }),
  previousResponseNotFound: (id: string) =>
    new ApiError(404, `Previous response with id '${id}' not found.`, {
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    }),
  // ---- raised by workers, reported to the client as an `error` event ----
  /** A message image the worker cannot use (bad data URL, denied or failed fetch, over a cap). */
  invalidImage: (message: string, param: string, code: string) => new ApiError(400, message, { param, code }),
  queuedBodyNotJson: () => new ApiError(400, 'request body is not JSON', { code: 'invalid_json' }),
  cancelled: () => new ApiError(499, 'cancelled by client', { code: 'cancelled' }),
  deadlineExceeded: () =>
    new ApiError(504, 'The caller stopped waiting before the request could run.', { type: 'timeout_error', code: 'deadline_exceeded' }),
  streamInterrupted: () =>
    new ApiError(
      502,
      'The worker serving this stream failed after part of the answer was sent; the stream cannot continue without repeating tokens. Retry the request.',
      { type: 'server_error', code: 'stream_interrupted' },
    ),
  providerUnavailable: (provider: string) =>
    new ApiError(404, `provider '${provider}' is not available`, {
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    }),
  noEmbeddings: (provider: string) =>
    new ApiError(404, `Provider '${provider}' does not offer embeddings.`, {
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    }),
  upstreamStreamBroken: (detail: string) =>
    new ApiError(502, `The upstream connection failed mid-stream: ${detail}`, {
      type: 'upstream_error',
      code: 'upstream_connection_error',
    }),
  badUpstreamResponse: (detail: string) =>
    new ApiError(502, `The upstream answered in an unexpected shape: ${detail}`, { type: 'upstream_error', code: 'bad_upstream_response' }),
  upstreamUnreachable: (detail: string, timedOut: boolean) =>
    new ApiError(timedOut ? 504 : 502, `The upstream could not be reached: ${detail}`, {
      type: 'upstream_error',
      code: timedOut ? 'upstream_timeout' : 'upstream_connection_error',
    }),
  /** A request field the target provider has no equivalent for (shared/providers/request-fields.ts). */
  unsupportedParameter: (provider: string, param: string, reason: string) =>
    new ApiError(400, `Provider '${provider}' does not support '${param}': ${reason}.`, {
      type: 'invalid_request_error',
      param,
      code: 'unsupported_parameter',
    }),
  requestNotTranslatable: (provider: string, detail: string) =>
    new ApiError(400, `The request could not be translated for provider '${provider}': ${detail}`, { code: 'invalid_request' }),
  upstreamTooLarge: (what: string, limitBytes: number) =>
    new ApiError(502, `The upstream sent ${what} larger than the ${limitBytes} bytes allowed; the response was dropped.`, {
      type: 'upstream_error',
      code: 'upstream_response_too_large',
    }),
  upstreamStreamTruncated: () =>
    new ApiError(502, 'The upstream stream ended before the answer was complete.', {
      type: 'upstream_error',
      code: 'upstream_stream_truncated',
    }),
  upstreamStreamMalformed: (data: string, detail?: string) =>
    new ApiError(502, `upstream sent malformed stream data${detail ? ` (${detail})` : ''}: ${data.slice(0, 200)}`, {
      type: 'upstream_error',
      code: 'bad_upstream_response',
    }),
  // ---- content guardrails (shared/guardrails) ----
  guardrailBlocked: (guardrail: string, reason: string) =>
    new ApiError(400, `The request was blocked by guardrail '${guardrail}': ${reason}.`, { code: 'guardrail_blocked' }),
  /** A guardrail with `on_error: closed` could not decide (webhook down, timed out, answered garbage). */
  guardrailUnavailable: (guardrail: string, detail: string) =>
    new ApiError(503, `Guardrail '${guardrail}' could not check the request (${detail}); it fails closed.`, {
      type: 'server_error',
      code: 'guardrail_unavailable',
    }),
  /** A post_call guardrail applies but this surface's answer is relayed in a form the worker cannot check. */
  guardrailNotApplicable: (guardrail: string, surface: string) =>
    new ApiError(
      400,
      `Guardrail '${guardrail}' checks answers (post_call), which it cannot do on ${surface}; the request was refused rather than sent unchecked.`,
      { code: 'guardrail_not_applicable' },
    ),
  unknownGuardrail: (param: string, name: string) =>
    new ApiError(400, `Invalid value for '${param}': no guardrail named '${name}' is defined in the config file.`, {
      param,
      code: 'unknown_guardrail',
    }),
  circuitOpen: (target: string) =>
    new ApiError(503, `The upstream ${target} is failing; its circuit breaker is open. Try again shortly.`, { code: 'circuit_open' }),
};
