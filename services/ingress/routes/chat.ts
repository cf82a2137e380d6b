// OpenAI chat completions and embeddings: validate, admit, publish to JetStream through the
// dispatcher, and render the worker's events as the OpenAI response (JSON or SSE).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { SwitchyardConfig } from '../../../shared/config/env.ts';
import { assertRouteConfigured } from '../../../shared/config/providers.ts';
import type { StreamEvent } from '../../../shared/protocol/events.ts';
import { ApiError, errors } from '../../../shared/protocol/errors.ts';
import { chatCompletionRequestSchema, embeddingsRequestSchema } from '../../../shared/protocol/openai.ts';
import { validate } from '../../../shared/protocol/request-errors.ts';
import { getDescriptor } from '../../../shared/providers/registry.ts';
import { assertFieldsServable } from '../../../shared/providers/request-fields.ts';
import type { Admission, Settlement } from '../admission.ts';
import type { AsyncWork } from '../async-work.ts';
import type { Dispatcher } from '../dispatcher.ts';
import { GUARDRAILS_HEADER, type IngressGuardrails } from '../guardrails.ts';
import { assertModelAllowed } from '../model-policy.ts';
import { principalOf } from '../principal.ts';
import { ChunkWriter, chatCompletionBody, embeddingsBody, renderEvent, sseError, sseHeaders } from '../render.ts';
import { resolveRoute as resolveModelRoute, type Route } from '../routing.ts';
import { writeSse } from '../sse-backpressure.ts';
import { messagesRoutes } from './messages.ts';
import { documentRoute } from '../openapi/registry.ts';
import { asyncRequestSchema, chatCompletionSchema, embeddingsResponseSchema } from '../openapi/schemas.ts';
import { CACHE_HEADER, type ResponseCache } from '../response-cache/response-cache.ts';
import { AttemptLock } from '../attempt-lock.ts';

export interface ChatRoutesOptions {
  config: SwitchyardConfig;
  dispatcher: Dispatcher;
  admission: Admission;
  asyncWork: AsyncWork;
  responseCache: ResponseCache;
  /** Content guardrails (services/ingress/guardrails.ts). */
  guardrails: IngressGuardrails;
  /** The onRequest hook that sets the principal (services/ingress/server.ts). */
  authenticate: (req: FastifyRequest) => Promise<void>;
}

/** One request handed to the workers; `onStreamEvent` only for a streamed answer. */
export interface DispatchOptions {
  req: FastifyRequest;
  reply: FastifyReply;
  kind: 'chat' | 'embeddings';
  route: Route;
  publicModel: string;
  stream: boolean;
  onStreamEvent?: (ev: StreamEvent) => boolean;
  /** An Anthropic Messages body (routes/messages.ts); default OpenAI. */
  wire?: 'openai' | 'anthropic';
  anthropicBeta?: string;
  /** Content guardrails the worker applies to the answer. */
  guardrails?: readonly string[];
}

export const chatRoutes: FastifyPluginAsync<ChatRoutesOptions> = async (app, opts) => {
  const { config, dispatcher, admission, asyncWork, guardrails, authenticate, responseCache } = opts;
  const resolveRoute = (model: string) => {
    const route = resolveModelRoute(model, config.DEFAULT_PROVIDER, config.file);
    // Fail here, before the queue hop, when no target has an upstream (production without its key).
    assertRouteConfigured(config, route.targets ?? [route]);
    return route;
  };
  const sseLimits = { maxBufferedBytes: config.SSE_MAX_BUFFERED_BYTES, stuckTimeoutMs: config.SSE_STUCK_TIMEOUT_MS };

  app.post('/v1/chat/completions', { onRequest: authenticate }, async (req, reply) => {
    const validBody = validateBody(chatCompletionRequestSchema, req.body);
    assertModelAllowed(principalOf(req), validBody.model);
    const route = resolveRoute(validBody.model);
    assertFieldsServable(validBody, route.targets ?? [route], (provider) => getDescriptor(provider, config.file)?.requestFields);
    // ---- content guardrails: pre_call here (may mask the body), the rest in the worker ----
    const guarded = await guardrails.beforeQueue(req, reply, validBody, route);
    const body = guarded?.body ?? validBody;
    const workerGuardrails = guarded?.workerGuardrails;
    // ---- async work: `Prefer: respond-async` -> 202, result at GET /v1/requests/{id} ----
    if (asyncWork.wantsAsync(req)) {
      const admitting = admission.admit(principalOf(req), route.targets ?? [route], req.body, 'chat');
      if (admitting) (await admitting).settle('unknown'); // counted now; the answer arrives elsewhere
      return asyncWork.acceptAsync(req, reply, body, route);
    }
    const stream = body.stream === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${req.id.slice(4)}`;
    // ---- response cache (docs/caching.md): null unless the request, its key or its tenant asks for it ----
    const cache = responseCache.ticketFor(req, principalOf(req), route.targets ?? [route], body);
    if (cache) {
      const hit = await responseCache.lookup(cache);
      if (hit) return responseCache.serveHit(req, reply, hit, body.model, stream, includeUsage);
      reply.header(CACHE_HEADER, 'miss');
    }

    if (!stream) {
      const ev = await dispatch({ req, reply, kind: 'chat', route, publicModel: body.model, stream: false, guardrails: workerGuardrails });
      if (ev.type === 'result' && ev.kind === 'chat') {
        reply.header('x-switchyard-provider', ev.provider).header('x-switchyard-attempts', String(ev.attempts ?? ev.attempt));
        if (ev.simulated) reply.header(SIMULATED_HEADER, 'true');
        if (cache) responseCache.storeResult(cache, ev);
        return chatCompletionBody(id, created, body.model, ev);
      }
      throw new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' });
    }

    const writer = new ChunkWriter(id, created, body.model, includeUsage);
    const res = reply.raw;
    const write = (frame: string) => writeSse(res, frame, sseLimits);
    let started = false;
    const attempts = new AttemptLock();
    const start = (ev: StreamEvent) => {
      if (started) return;
      started = true;
      reply.hijack();
      res.writeHead(200, {
        ...sseHeaders(req.id),
        // Known at the first event: the provider that serves and the upstream attempts it took.
        ...streamHeaders(ev),
        ...req.admitted?.headers,
        ...(cache && { [CACHE_HEADER]: 'miss' }),
        ...(guarded ? { [GUARDRAILS_HEADER]: String(reply.getHeader(GUARDRAILS_HEADER)) } : {}),
      });
      write(writer.delta({ role: 'assistant', content: '' }));
    };
    // Resumable at GET /v1/requests/{id}/events (any ingress); SSE `id:` = the event's seq.
    asyncWork.resume.remember(req.id, { tenantId: principalOf(req).tenantId, model: body.model, created, includeUsage });
    await dispatch({
      req,
      reply,
      kind: 'chat',
      route,
      publicModel: body.model,
      stream: true,
      guardrails: workerGuardrails,
      onStreamEvent: (received) => {
        // Only one attempt may speak to the client: once its tokens are out, a redelivered attempt can
        // only end the stream with an error (attempt-lock.ts).
        const ev = attempts.admit(received);
        if (!ev) return false;
        if (ev.type === 'chunk') {
          start(ev);
          cache?.deltas.push(ev.delta);
          write(renderEvent(writer, ev, includeUsage)); // a delta, or a guardrail's content_filter finish
          return false;
        }
        if (ev.type === 'done') {
          start(ev);
          if (cache) responseCache.storeStream(cache, ev);
          res.end(renderEvent(writer, ev, includeUsage)); // finish, usage and [DONE], each with its resume id
          return true;
        }
        if (ev.type === 'error') {
          if (!started) return true; // not streaming yet: dispatch turns it into a plain HTTP error
          res.end(renderEvent(writer, ev, includeUsage));
          return true;
        }
        return false;
      },
    });
  });

  app.post('/v1/embeddings', { onRequest: authenticate }, async (req, reply) => {
    const body = validateBody(embeddingsRequestSchema, req.body);
    assertModelAllowed(principalOf(req), body.model);
    const route = resolveRoute(body.model);
    // pre_call on `input`; post_call has no text to read in vectors, during_call runs in the worker.
    const checking = guardrails.guard(req, reply, req.body as Record<string, unknown>, body.model, route, { kind: 'embeddings' });
    const checked = checking && (await checking);
    if (checked?.masked) req.rawBody = Buffer.from(JSON.stringify(checked.masked));
    const names = checked?.workerGuardrails;
    const ev = await dispatch({ req, reply, kind: 'embeddings', route, publicModel: body.model, stream: false, guardrails: names });
    if (ev.type === 'result' && ev.kind === 'embeddings') {
      if (ev.simulated) reply.header(SIMULATED_HEADER, 'true');
      return embeddingsBody(body.model, ev);
    }
    throw new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' });
  });

  /**
   * Publishes the request and waits for its events. Without `onStreamEvent` it resolves with the
   * terminal event (or throws its error). With it, every event goes to the callback, which returns
   * true when the response is finished; an error before the stream started is thrown as HTTP.
   */
  // Anthropic Messages (routes/messages.ts) on this same dispatch path.
  await app.register(messagesRoutes, { config, authenticate, resolveRoute, dispatch, sseLimits, resume: asyncWork.resume, guardrails });

  async function dispatch({
    req,
    reply,
    kind,
    route,
    publicModel,
    stream,
    onStreamEvent,
    wire,
    anthropicBeta,
    guardrails: names,
  }: DispatchOptions): Promise<StreamEvent> {
    const requestId = req.id;
    let finished = false;
    let settle!: { resolve: (ev: StreamEvent) => void; reject: (err: ApiError) => void };
    const result = new Promise<StreamEvent>((resolve, reject) => (settle = { resolve, reject }));
    const finish = (ev: StreamEvent | ApiError) => {
      finished = true;
      if (!(ev instanceof ApiError) && (ev.type === 'done' || ev.type === 'result')) {
        req.usage = ev.usage;
        req.servedBy = ev.provider;
      }
      req.admitted?.settle(settlementOf(ev, reply.raw.headersSent));
      if (ev instanceof ApiError) settle.reject(ev);
      else if (ev.type === 'error' && !reply.raw.headersSent) {
        settle.reject(
          new ApiError(ev.status, ev.error.message, {
            type: ev.error.type,
            param: ev.error.param,
            code: ev.error.code,
            headers: retryHeaders(ev.retry_after_ms),
          }),
        );
      } else settle.resolve(ev);
    };
    // Client went away before the answer was complete: stop the upstream call.
    reply.raw.once('close', () => {
      if (!finished) {
        finished = true;
        req.admitted?.settle('unknown');
        // A stream can be resumed: it keeps running for STREAM_RESUME_GRACE_MS (resumable.ts).
        if (stream) asyncWork.resume.detach(requestId);
        else dispatcher.cancel(requestId);
      }
    });
    // ---- admission: rate limits and budget (throws the 429); null = principal without limits ----
    const admitting = admission.admit(principalOf(req), route.targets ?? [route], req.body, kind);
    if (admitting) {
      req.admitted = await admitting;
      reply.headers(req.admitted.headers);
    }
    // The answer, not the publish ack, ends the wait: only a stored message can reach a worker, and
    // waiting for the ack as well would add the JetStream file store's tail to every response.
    // A refused publish still fails the request (503) before any answer could exist.
    const submitted = dispatcher.submit(
      {
        requestId,
        principal: principalOf(req),
        kind,
        route,
        publicModel,
        stream,
        body: req.rawBody!,
        wire,
        anthropicBeta,
        ...(names ? { guardrails: names } : {}),
      },
      {
        onEvent: (ev) => {
          const done = onStreamEvent ? onStreamEvent(ev) : ev.type !== 'chunk';
          if (done) finish(ev);
          return done;
        },
        onTimeout: () => {
          if (reply.raw.headersSent) {
            finished = true;
            req.admitted?.settle('unknown');
            reply.raw.end(sseError(errors.timeout().toBody()));
            settle.resolve({ type: 'error', seq: 0, attempt: 0, status: 504, error: errors.timeout().toBody().error });
          } else finish(errors.timeout());
        },
      },
    );
    submitted.catch((err: unknown) => {
      if (!finished) finish(err instanceof ApiError ? err : errors.unavailable(`The request could not be queued: ${String(err)}`));
    });
    return result;
  }
};

/** A JSON object body, checked against its schema by the shared validate(). */
function validateBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'The request body must be a JSON object.', { code: 'invalid_json' });
  }
  return validate(schema, body);
}

/** What a terminal event tells admission: real usage, nothing produced, or unknown. */
export function settlementOf(ev: StreamEvent | ApiError, streaming: boolean): Settlement {
  if (ev instanceof ApiError) return ev.status === 504 ? 'unknown' : 'failed';
  if (ev.type === 'done' || ev.type === 'result') {
    const u = ev.usage;
    const usage = {
      prompt_tokens: u.prompt_tokens,
      completion_tokens: 'completion_tokens' in u ? u.completion_tokens : 0,
      total_tokens: u.total_tokens,
    };
    if ('prompt_tokens_details' in u) Object.assign(usage, { prompt_tokens_details: u.prompt_tokens_details });
    return { usage, target: ev.target ?? `${ev.provider}/${ev.model}` };
  }
  return ev.type === 'error' && !streaming ? 'failed' : 'unknown';
}

export function streamHeaders(ev: StreamEvent): Record<string, string> {
  const provider = ev.type === 'chunk' ? ev.provider : ev.type === 'error' ? undefined : ev.provider;
  const attempts = ev.type === 'error' ? undefined : ev.attempts;
  const h: Record<string, string> = {};
  if (provider) h['x-switchyard-provider'] = provider;
  if (attempts !== undefined || provider) h['x-switchyard-attempts'] = String(attempts ?? ev.attempt);
  if (ev.type !== 'error' && ev.simulated) h[SIMULATED_HEADER] = 'true';
  return h;
}

/** Set on every answer that came from a built-in simulator rather than a real upstream. */
export const SIMULATED_HEADER = 'x-switchyard-simulated';

export function retryHeaders(retryAfterMs: number | undefined): Record<string, string> {
  if (retryAfterMs === undefined) return {};
  return { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))), 'retry-after-ms': String(Math.round(retryAfterMs)) };
}

// ---- OpenAPI (services/ingress/openapi) ----
documentRoute('POST /v1/chat/completions', {
  summary: 'Create a chat completion (JSON, or SSE with `stream: true`)',
  tags: ['OpenAI'],
  auth: 'tenant',
  body: chatCompletionRequestSchema,
  headers: { Prefer: '`respond-async`: answer 202 at once; the result is at GET /v1/requests/{id}' },
  responses: {
    200: { description: 'The completion; with `stream: true` a text/event-stream of chunks.', schema: chatCompletionSchema },
    202: {
      description: 'Accepted (with `Prefer: respond-async`).',
      schema: asyncRequestSchema,
      headers: { location: 'The request object' },
    },
  },
});
documentRoute('POST /v1/embeddings', {
  summary: 'Create embeddings',
  tags: ['OpenAI'],
  auth: 'tenant',
  body: embeddingsRequestSchema,
  responses: { 200: embeddingsResponseSchema },
});
