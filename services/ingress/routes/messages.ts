// Anthropic Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`), so an Anthropic SDK
// works against Switchyard unchanged. The request takes chat completions' dispatch path (auth,
// tenancy, model policy, limits, budgets, queue, ledger); the body travels as the client sent it
// with wire `anthropic`. An anthropic/* target gets it natively and its answer is relayed as it came;
// any other target gets it translated, and its chat answer is rendered here as a Message.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { loadUndici } from '../../../shared/runtime/undici.ts';
import { z } from 'zod';
import type { SwitchyardConfig } from '../../../shared/config/env.ts';
import { estimatePromptTokens } from '../../../shared/limits/estimate.ts';
import { anthropicError } from '../../../shared/protocol/anthropic-messages/errors.ts';
import { messageBody } from '../../../shared/protocol/anthropic-messages/from-chat.ts';
import {
  countTokensRequestSchema,
  messagesRequestSchema,
  type CountTokensRequest,
  type MessagesRequest,
} from '../../../shared/protocol/anthropic-messages/request.ts';
import { messagesToChatRequest } from '../../../shared/protocol/anthropic-messages/to-chat.ts';
import { ApiError, errors } from '../../../shared/protocol/errors.ts';
import { validate } from '../../../shared/protocol/request-errors.ts';
import { ANTHROPIC_VERSION } from '../../../shared/providers/anthropic/build-request.ts';
import { parseAnthropicError } from '../../../shared/providers/anthropic/errors.ts';
import type { IngressGuardrails } from '../guardrails.ts';
import { MessagesEventRenderer } from '../messages-render.ts';
import { assertModelAllowed } from '../model-policy.ts';
import { principalOf } from '../principal.ts';
import type { StreamResume } from '../resumable.ts';
import type { Route } from '../routing.ts';
import { writeSse } from '../sse-backpressure.ts';
import { documentRoute } from '../openapi/registry.ts';
import { SIMULATED_HEADER, SseHead, setAnsweredBy } from '../answer-headers.ts';
import type { Dispatch } from '../request-dispatch.ts';
import { AttemptLock } from '../attempt-lock.ts';

export interface MessagesRoutesOptions {
  config: SwitchyardConfig;
  authenticate: (req: FastifyRequest) => Promise<void>;
  resolveRoute: (model: string) => Route;
  /** routes/chat.ts: publish and wait for the events, one path for every surface. */
  dispatch: Dispatch;
  sseLimits: { maxBufferedBytes: number; stuckTimeoutMs: number };
  resume: Pick<StreamResume, 'remember'>;
  guardrails: IngressGuardrails;
}

export const messagesRoutes: FastifyPluginAsync<MessagesRoutesOptions> = async (app, opts) => {
  const { config, resolveRoute, dispatch, sseLimits, resume, guardrails } = opts;

  // Every error of these routes (auth, validation, limits, upstream) in Anthropic's envelope and status.
  app.setErrorHandler((err: unknown, req, reply) => {
    const apiErr = toApiError(err);
    if (!(err instanceof ApiError) && apiErr.status >= 500) req.log.error({ err, reqId: req.id }, 'request failed');
    const { status, body } = anthropicError(apiErr.status, apiErr);
    void reply
      .code(status)
      .headers(apiErr.headers)
      .send({ ...body, request_id: req.id });
  });

  // Anthropic SDKs send the key as `x-api-key`; `Authorization: Bearer` works as on every route.
  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    // Anthropic SDKs read the request id from `request-id`; `x-request-id` is set for every route.
    reply.header('request-id', req.id);
    const key = req.headers['x-api-key'];
    if (!req.headers.authorization) {
      if (typeof key !== 'string' || key === '')
        throw new ApiError(401, 'No API key: send it as `x-api-key: <key>` or `Authorization: Bearer <key>`.', { code: 'missing_api_key' });
      req.headers.authorization = `Bearer ${key}`;
    }
    await opts.authenticate(req);
  };

  app.post('/v1/messages', { onRequest: authenticate }, async (req, reply) => {
    const body = validateBody<MessagesRequest>(messagesRequestSchema, req.body);
    assertModelAllowed(principalOf(req), body.model);
    const route = resolveRoute(body.model);
    assertTranslatable(body, route);
    const id = `msg_${req.id.slice(4)}`;
    const anthropicBeta = headerValue(req.headers['anthropic-beta']);
    // pre_call on the Messages JSON as queued. An anthropic/* target's answer is relayed in Anthropic's
    // wire format, which post_call cannot read: refused (fail closed) when a post_call guardrail applies.
    const native = (route.targets ?? [route]).some((t) => t.provider === 'anthropic');
    const checking = guardrails.guard(req, reply, req.body as Record<string, unknown>, body.model, route, {
      ...(native && { uncheckableAnswer: 'POST /v1/messages for anthropic/* models (answers are relayed natively)' }),
    });
    const checked = checking && (await checking);
    if (checked?.masked) req.rawBody = Buffer.from(JSON.stringify(checked.masked));
    const base = {
      req,
      reply,
      kind: 'chat' as const,
      route,
      publicModel: body.model,
      wire: 'anthropic' as const,
      anthropicBeta,
      guardrails: checked?.workerGuardrails,
    };

    if (body.stream !== true) {
      const ev = await dispatch({ ...base, stream: false });
      if (ev.type === 'result' && ev.kind === 'chat') {
        setAnsweredBy(reply, ev);
        return ev.native ?? messageBody(id, body.model, ev.message, ev.finish_reason, ev.usage);
      }
      throw new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' });
    }

    const renderer = new MessagesEventRenderer(id, body.model);
    const res = reply.raw;
    const write = (frame: string) => writeSse(res, frame, sseLimits);
    const head = new SseHead(req, reply);
    const attempts = new AttemptLock();
    // Resumable at GET /v1/requests/{id}/events (any ingress), rendered as Messages there too.
    resume.remember(req.id, {
      tenantId: principalOf(req).tenantId,
      model: body.model,
      created: Math.floor(Date.now() / 1000),
      includeUsage: false,
      wire: 'anthropic',
    });
    await dispatch({
      ...base,
      stream: true,
      resumable: true, // remembered above: a client that drops can resume it
      onStreamEvent: (received) => {
        // Only one attempt may speak to the client (as in routes/chat.ts).
        const ev = attempts.admit(received);
        if (!ev) return false;
        if (ev.type === 'chunk') {
          head.open(ev);
          write(renderer.render(ev));
          return false;
        }
        if (ev.type === 'done') {
          head.open(ev);
          res.end(renderer.render(ev));
          return true;
        }
        if (ev.type === 'error') {
          if (!head.opened) return true; // not streaming yet: dispatch throws it, the error handler answers
          res.end(renderer.render(ev));
          return true;
        }
        return false;
      },
    });
  });

  app.post('/v1/messages/count_tokens', { onRequest: authenticate }, async (req, reply) => {
    const body = validateBody<CountTokensRequest>(countTokensRequestSchema, req.body);
    assertModelAllowed(principalOf(req), body.model);
    const route = resolveRoute(body.model);
    if (route.provider !== 'anthropic') {
      // No upstream counts tokens for a Messages body: the local estimate (shared/limits/estimate.ts).
      reply.header('x-switchyard-token-count', 'estimate');
      return { input_tokens: estimatePromptTokens(body) };
    }
    // The text goes to Anthropic from here: pre_call applies (masked text is what is counted).
    const checking = guardrails.guard(req, reply, body as unknown as Record<string, unknown>, body.model, route);
    const checked = checking && (await checking);
    const sent = (checked?.masked as unknown as CountTokensRequest | null | undefined) ?? body;
    return countAnthropicTokens(config, route.model, sent, headerValue(req.headers['anthropic-beta']), reply);
  });
};

/**
 * Anthropic counts for free and answers at once: the call goes straight from here, without the
 * queue, the worker or a usage record (nothing is generated, nothing billed).
 */
async function countAnthropicTokens(
  config: SwitchyardConfig,
  model: string,
  body: CountTokensRequest,
  anthropicBeta: string | undefined,
  reply: FastifyReply,
): Promise<unknown> {
  const endpoint = config.providers.anthropic;
  if (!endpoint) throw errors.providerUnavailable('anthropic');
  const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_VERSION };
  if (endpoint.apiKey) headers['x-api-key'] = endpoint.apiKey;
  if (anthropicBeta) headers['anthropic-beta'] = anthropicBeta;
  const { request } = await loadUndici();
  let res;
  try {
    res = await request(`${endpoint.baseUrl}/v1/messages/count_tokens`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...body, model }),
      headersTimeout: config.UPSTREAM_TIMEOUT_MS,
      bodyTimeout: config.UPSTREAM_TIMEOUT_MS,
    });
  } catch (err) {
    throw errors.upstreamUnreachable((err as Error).message, (err as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT');
  }
  const text = await res.body.text();
  if (res.statusCode >= 400) {
    const failure = parseAnthropicError(res.statusCode, text, res.headers);
    throw new ApiError(failure.status, failure.error.message, { type: failure.error.type, code: failure.error.code });
  }
  if (endpoint.simulated) reply.header(SIMULATED_HEADER, 'true');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw errors.badUpstreamResponse('count_tokens answered with a body that is not JSON');
  }
}

/**
 * A body bound for a non-Anthropic target must translate without loss; checked here so the 400
 * comes before the queue hop (the worker checks again per target).
 */
function assertTranslatable(body: MessagesRequest, route: Route): void {
  for (const t of route.targets ?? [route]) if (t.provider !== 'anthropic') messagesToChatRequest(body, t.provider);
}

function validateBody<T>(schema: Parameters<typeof validate>[0], body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'The request body must be a JSON object.', { code: 'invalid_json' });
  }
  return validate(schema, body) as T;
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h.join(',') : h || undefined;
}

/** Fastify's own errors (body too large, bad media type) keep their status; the unexpected are 500s. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { statusCode?: number; message?: string };
  if (e?.statusCode && e.statusCode < 500) return new ApiError(e.statusCode, e.message ?? 'Bad request');
  return new ApiError(500, 'Internal server error.', { type: 'server_error' });
}

// ---- API reference (services/ingress/openapi) ----
const anthropicMessageSchema = z.looseObject({
  id: z.string(),
  type: z.literal('message'),
  role: z.literal('assistant'),
  model: z.string(),
  content: z.array(z.looseObject({ type: z.string() })),
  stop_reason: z.string().nullable(),
  usage: z.looseObject({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
});
documentRoute('POST /v1/messages', {
  summary: 'Create a message (Anthropic Messages API; JSON, or SSE with `stream: true`)',
  description:
    "Native for anthropic/* models; translated for every other provider (docs/anthropic-messages.md). Errors use Anthropic's envelope.",
  tags: ['Anthropic'],
  auth: 'tenant',
  body: messagesRequestSchema,
  headers: {
    'x-api-key': 'A Switchyard key (or Authorization: Bearer)',
    'anthropic-version': 'Accepted',
    'anthropic-beta': 'Passed to Anthropic',
  },
  responses: {
    200: { description: 'The message; with `stream: true` a text/event-stream of Messages events.', schema: anthropicMessageSchema },
  },
});
documentRoute('POST /v1/messages/count_tokens', {
  summary: 'Count input tokens (exact for anthropic/*, an estimate otherwise)',
  tags: ['Anthropic'],
  auth: 'tenant',
  body: countTokensRequestSchema,
  responses: { 200: z.object({ input_tokens: z.number().int() }) },
});
