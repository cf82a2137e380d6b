// OpenAI chat completions and embeddings: validate, admit, publish to JetStream through the
// dispatcher, and render the worker's events as the OpenAI response (JSON or SSE).
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { SwitchyardConfig } from '../../../shared/config/env.ts';
import { assertRouteConfigured } from '../../../shared/config/providers.ts';
import type { StreamEvent } from '../../../shared/protocol/events.ts';
import { ApiError } from '../../../shared/protocol/errors.ts';
import { chatCompletionRequestSchema, embeddingsRequestSchema } from '../../../shared/protocol/openai.ts';
import { validate } from '../../../shared/protocol/request-errors.ts';
import { getDescriptor } from '../../../shared/providers/registry.ts';
import { assertFieldsServable } from '../../../shared/providers/request-fields.ts';
import type { Admission } from '../admission.ts';
import type { AsyncWork } from '../async-work.ts';
import type { IngressGuardrails } from '../guardrails.ts';
import { assertModelAllowed } from '../model-policy.ts';
import { principalOf } from '../principal.ts';
import { ChunkWriter, chatCompletionBody, embeddingsBody, renderEvent } from '../render.ts';
import { resolveRoute as resolveModelRoute } from '../routing.ts';
import { writeSse } from '../sse-backpressure.ts';
import { messagesRoutes } from './messages.ts';
import { documentRoute } from '../openapi/registry.ts';
import { asyncRequestSchema, chatCompletionSchema, embeddingsResponseSchema } from '../openapi/schemas.ts';
import { CACHE_HEADER, type ResponseCache } from '../response-cache/response-cache.ts';
import { AttemptLock } from '../attempt-lock.ts';
import { SIMULATED_HEADER, SseHead, setAnsweredBy } from '../answer-headers.ts';
import type { Dispatch } from '../request-dispatch.ts';

export interface ChatRoutesOptions {
  config: SwitchyardConfig;
  /** Admission, publish and events back (services/ingress/request-dispatch.ts). */
  dispatch: Dispatch;
  /** Counts a `Prefer: respond-async` request against the tenant's limits when it is accepted. */
  admission: Admission;
  asyncWork: AsyncWork;
  responseCache: ResponseCache;
  /** Content guardrails (services/ingress/guardrails.ts). */
  guardrails: IngressGuardrails;
  /** The onRequest hook that sets the principal (services/ingress/server.ts). */
  authenticate: (req: FastifyRequest) => Promise<void>;
}

export const chatRoutes: FastifyPluginAsync<ChatRoutesOptions> = async (app, opts) => {
  const { config, dispatch, admission, asyncWork, guardrails, authenticate, responseCache } = opts;
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
        setAnsweredBy(reply, ev);
        if (cache) responseCache.storeResult(cache, ev);
        return chatCompletionBody(id, created, body.model, ev);
      }
      throw new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' });
    }

    const writer = new ChunkWriter(id, created, body.model, includeUsage);
    const res = reply.raw;
    const write = (frame: string) => writeSse(res, frame, sseLimits);
    // Written at the first event, when the provider that serves and its upstream attempts are known.
    const head = new SseHead(req, reply, cache ? { [CACHE_HEADER]: 'miss' } : undefined);
    const attempts = new AttemptLock();
    const start = (ev: StreamEvent) => {
      if (head.open(ev)) write(writer.delta({ role: 'assistant', content: '' }));
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
      resumable: true, // remembered above: a client that drops can resume it
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
          if (!head.opened) return true; // not streaming yet: dispatch turns it into a plain HTTP error
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

  // Anthropic Messages (routes/messages.ts) on this same dispatch path.
  await app.register(messagesRoutes, { config, authenticate, resolveRoute, dispatch, sseLimits, resume: asyncWork.resume, guardrails });
};

/** A JSON object body, checked against its schema by the shared validate(). */
function validateBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'The request body must be a JSON object.', { code: 'invalid_json' });
  }
  return validate(schema, body);
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
