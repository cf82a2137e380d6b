// The HTTP edge. Reads top to bottom: plumbing, auth, then one handler per route. It does no
// upstream work itself: it validates, publishes to JetStream, and renders the events that come back.
import { randomBytes, randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Nats } from '../../shared/nats/connection.ts';
import type { Db } from '../../shared/db/database.ts';
import { pingDatabase } from '../../shared/db/database.ts';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import { maxRequestBodyBytes, requestTooLarge } from '../../shared/nats/payload-limits.ts';
import { chatCompletionRequestSchema, embeddingsRequestSchema } from '../../shared/protocol/openai.ts';
import { requestIssueError } from '../../shared/protocol/request-errors.ts';
import { exceedsJsonDepth } from '../../shared/protocol/json-depth.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { KeyAuthenticator } from './auth.ts';
import { adminRoutes } from './admin.ts';
import { assertModelAllowed } from './model-policy.ts';
import { EventRouter } from './event-router.ts';
import { answerClientError, answerFrameworkError } from './framework-errors.ts';
import { Dispatcher } from './dispatcher.ts';
import { resolveRoute as resolveModelRoute, type Route } from './routing.ts';
import { logAccess } from './access-log.ts';
import { ChunkWriter, chatCompletionBody, embeddingsBody, renderEvent, sseError, sseHeaders } from './render.ts';
import { writeSse } from './sse-backpressure.ts';
// ---- tenant controls, routing policy, metrics (docs/guardrails.md) ----
import { Admission, type Admitted, type Settlement } from './admission.ts';
import { openLimitBuckets } from '../../shared/limits/kv.ts';
import { priceBookFromConfig } from '../../shared/config/file.ts';
import { metrics, METRICS_UNAUTHORIZED_BODY, metricsAuthorized, registerQueueDepth, registry } from '../../shared/telemetry/metrics.ts';
import { adapterNames, getDescriptor, providerNames } from '../../shared/providers/registry.ts';
// ---- async work: files, batches, async requests, resumable streams, WebSocket (async-work.ts) ----
import { createAsyncWork } from './async-work.ts';
import { principalOf } from './principal.ts';
import { assertRouteConfigured } from '../../shared/config/providers.ts';
import type { z } from 'zod';

export interface IngressOptions {
  config: SwitchyardConfig;
  nats: Nats;
  db: Db;
  log: Logger;
}

export interface Ingress {
  app: FastifyInstance;
  ingressId: string;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
    principal?: KeyPrincipal;
    /** Admission ticket of a rate-limited or budgeted principal (services/ingress/admission.ts). */
    admitted?: Admitted;
  }
}

export async function buildIngress(opts: IngressOptions): Promise<Ingress> {
  const { config, nats, db, log } = opts;
  const { nc } = nats;
  const ingressId = `ing${randomBytes(6).toString('hex')}`;
  const auth = new KeyAuthenticator(db, nc, config.AUTH_CACHE_TTL_MS);
  const router = new EventRouter(nc, ingressId);
  const dispatcher = new Dispatcher(nats, router, ingressId, config.REQUEST_TIMEOUT_MS);
  // ---- tenant controls: limits and budgets in NATS KV (services/ingress/admission.ts) ----
  const admission = new Admission({
    buckets: await openLimitBuckets(nc).catch((err: Error) => {
      log.error({ err: err.message }, 'limiter KV buckets unavailable: rate limits fail open, budgets fail closed');
      return null;
    }),
    db,
    prices: priceBookFromConfig(config.file ?? null),
    holder: ingressId,
    defaultMaxTokens: config.LIMITS_DEFAULT_MAX_TOKENS,
    log,
  });
  registerQueueDepth(nats.jsm, adapterNames(config.file));

  // A body the NATS server cannot carry is refused here with 413, not later as a 503 (docs/security.md).
  const bodyLimit = maxRequestBodyBytes(nc);
  const app = Fastify({
    loggerInstance: log.child({ ingressId }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // No pino child logger per request: at load those allocations doubled the time spent in GC.
    // Log lines that concern a request name it with `reqId` explicitly.
    childLoggerFactory: (logger) => logger,
    bodyLimit,
    genReqId: () => `req_${randomUUID().replaceAll('-', '')}`,
    // Requests that arrive while closing get a 503 in the envelope from the hook below, not Fastify's own body.
    return503OnClosing: false,
    // Errors answered before the error handler runs still get the OpenAI envelope.
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  });

  // Keep the raw bytes: they are what we publish, so the body is parsed once and never re-serialised.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    req.rawBody = buf;
    if (buf.length === 0) return done(errors.invalidJson('empty body'), undefined);
    if (exceedsJsonDepth(buf, config.MAX_JSON_DEPTH)) return done(errors.jsonTooDeep(config.MAX_JSON_DEPTH), undefined);
    try {
      done(null, JSON.parse(buf.toString('utf8')));
    } catch (err) {
      done(errors.invalidJson((err as Error).message), undefined);
    }
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (closing)
      throw new ApiError(503, 'This server is shutting down; retry the request.', {
        type: 'server_error',
        code: 'service_unavailable',
        headers: { connection: 'close' },
      });
  });
  // Metrics per route template (bounded label set); hijacked streams end in dispatch() below.
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route }, reply.elapsedTime / 1000);
  });

  logAccess(app);

  app.setErrorHandler((err: unknown, req, reply) => {
    const apiErr = toApiError(err, bodyLimit);
    // Upstream and queue failures arrive as ApiErrors already explained; only the unexpected get a stack.
    // A client's mistake (4xx, e.g. Fastify's 415) is expected: the access line records it.
    if (!(err instanceof ApiError) && apiErr.status >= 500) req.log.error({ err, reqId: req.id }, 'request failed');
    else if (apiErr.status >= 500 || apiErr.status === 413)
      req.log.warn({ reqId: req.id, status: apiErr.status, code: apiErr.code, error: apiErr.message }, 'request failed');
    void reply.code(apiErr.status).headers(apiErr.headers).send(apiErr.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new ApiError(404, `Unknown request URL: ${req.method} ${req.url}.`, { code: 'unknown_url' }).toBody());
  });

  const authenticate = async (req: FastifyRequest) => {
    req.principal = await auth.authenticate(req.headers.authorization);
  };
  const asyncWork = await createAsyncWork({ config, nats, db, log, auth, dispatcher, authenticate, admission });

  // ---- ops ----
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (req, reply) => {
    if (!metricsAuthorized(req.headers.authorization, config.METRICS_TOKEN))
      return reply.code(401).header('www-authenticate', 'Bearer').type('application/json').send(METRICS_UNAUTHORIZED_BODY);
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/readyz', async (_req, reply) => {
    const natsOk = !nc.isClosed() && !nc.isDraining();
    const dbOk = await pingDatabase(db);
    return reply.code(natsOk && dbOk ? 200 : 503).send({ status: natsOk && dbOk ? 'ready' : 'unavailable', nats: natsOk, database: dbOk });
  });
  await app.register(adminRoutes, { db, nc, auth, adminApiKey: config.ADMIN_API_KEY });
  await app.register(asyncWork.routes);

  // ---- OpenAI API ----
  app.get('/v1/models', { onRequest: authenticate }, async () => {
    const data = [];
    for (const provider of providerNames(config.file)) {
      if (config.providers[provider]?.configured === false) continue;
      for (const m of getDescriptor(provider, config.file)?.defaultModels ?? [])
        data.push({ id: `${provider}/${m}`, object: 'model', created: 0, owned_by: provider });
    }
    return { object: 'list', data };
  });

  app.post('/v1/chat/completions', { onRequest: authenticate }, async (req, reply) => {
    const body = validate(chatCompletionRequestSchema, req.body);
    assertModelAllowed(principalOf(req), body.model);
    const route = resolveRoute(body.model);
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

    if (!stream) {
      const ev = await dispatch(req, reply, 'chat', route, body.model, false, null);
      if (ev.type === 'result' && ev.kind === 'chat') {
        reply.header('x-switchyard-provider', ev.provider).header('x-switchyard-attempts', String(ev.attempts ?? ev.attempt));
        if (ev.simulated) reply.header(SIMULATED_HEADER, 'true');
        return chatCompletionBody(id, created, body.model, ev);
      }
      throw new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' });
    }

    const writer = new ChunkWriter(id, created, body.model, includeUsage);
    const res = reply.raw;
    const write = (frame: string) => writeSse(res, frame, sseLimits);
    let started = false;
    let lockedAttempt = 0;
    const start = (ev: StreamEvent) => {
      if (started) return;
      started = true;
      reply.hijack();
      res.writeHead(200, {
        ...sseHeaders(req.id),
        // Known at the first event: the provider that serves and the upstream attempts it took.
        ...streamHeaders(ev),
        ...req.admitted?.headers,
      });
      write(writer.delta({ role: 'assistant', content: '' }));
    };
    // Resumable at GET /v1/requests/{id}/events (any ingress); SSE `id:` = the event's seq.
    asyncWork.resume.remember(req.id, { tenantId: principalOf(req).tenantId, model: body.model, created, includeUsage });
    await dispatch(req, reply, 'chat', route, body.model, true, (ev) => {
      // Only one attempt may speak to the client: once its tokens are out, a redelivered attempt can
      // only end the stream with an error (the worker guarantees that; this guards it).
      if (lockedAttempt && ev.attempt !== lockedAttempt && ev.type !== 'error') return false;
      if (ev.type === 'chunk') {
        lockedAttempt ||= ev.attempt;
        start(ev);
        write(writer.delta(ev.delta, String(ev.seq)));
        return false;
      }
      if (ev.type === 'done') {
        start(ev);
        res.end(renderEvent(writer, ev, includeUsage)); // finish, usage and [DONE], each with its resume id
        return true;
      }
      if (ev.type === 'error') {
        if (!started) return true; // not streaming yet: dispatch turns it into a plain HTTP error
        res.end(renderEvent(writer, ev, includeUsage));
        return true;
      }
      return false;
    });
  });

  app.post('/v1/embeddings', { onRequest: authenticate }, async (req, reply) => {
    const body = validate(embeddingsRequestSchema, req.body);
    assertModelAllowed(principalOf(req), body.model);
    const route = resolveRoute(body.model);
    const ev = await dispatch(req, reply, 'embeddings', route, body.model, false, null);
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
  async function dispatch(
    req: FastifyRequest,
    reply: FastifyReply,
    kind: 'chat' | 'embeddings',
    route: Route,
    publicModel: string,
    stream: boolean,
    onStreamEvent: ((ev: StreamEvent) => boolean) | null,
  ): Promise<StreamEvent> {
    const requestId = req.id;
    let finished = false;
    let settle!: { resolve: (ev: StreamEvent) => void; reject: (err: ApiError) => void };
    const result = new Promise<StreamEvent>((resolve, reject) => (settle = { resolve, reject }));
    const finish = (ev: StreamEvent | ApiError) => {
      finished = true;
      if (!(ev instanceof ApiError) && (ev.type === 'done' || ev.type === 'result')) req.usage = ev.usage;
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
      { requestId, principal: principalOf(req), kind, route, publicModel, stream, body: req.rawBody! },
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

  const resolveRoute = (model: string) => {
    const route = resolveModelRoute(model, config.DEFAULT_PROVIDER, config.file);
    // Fail here, before the queue hop, when no target has an upstream (production without its key).
    assertRouteConfigured(config, route.targets ?? [route]);
    return route;
  };
  const sseLimits = { maxBufferedBytes: config.SSE_MAX_BUFFERED_BYTES, stuckTimeoutMs: config.SSE_STUCK_TIMEOUT_MS };

  return {
    app,
    ingressId,
    async close() {
      // In-flight requests get a short drain; then every connection is closed, so a shutdown never
      // waits on a request whose client left (or a long stream) until the process is force-exited.
      const drain = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_DRAIN_MS);
      await app.close();
      clearTimeout(drain);
      await asyncWork.close();
      admission.close();
      dispatcher.close();
      router.close();
      auth.close();
    },
  };
}

/** How long a closing ingress waits for in-flight requests before it closes their connections. */
const SHUTDOWN_DRAIN_MS = 5_000;

function validate<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'The request body must be a JSON object.', { code: 'invalid_json' });
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  return fail(requestIssueError(parsed.error.issues[0]!, body));
}

function fail(err: ApiError): never {
  throw err;
}

/** What a terminal event tells admission: real usage, nothing produced, or unknown. */
function settlementOf(ev: StreamEvent | ApiError, streaming: boolean): Settlement {
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

function streamHeaders(ev: StreamEvent): Record<string, string> {
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

function retryHeaders(retryAfterMs: number | undefined): Record<string, string> {
  if (retryAfterMs === undefined) return {};
  return { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))), 'retry-after-ms': String(Math.round(retryAfterMs)) };
}

/** SQLSTATE 22P05 / 22021: what Postgres answers to a NUL character in text. */
const POSTGRES_UNTRANSLATABLE = '22P05';
const POSTGRES_INVALID_BYTES = '22021';

function toApiError(err: unknown, bodyLimit: number): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  // Postgres text cannot hold U+0000: a NUL in an id, query or field is the request's fault, not ours.
  if (e?.code === POSTGRES_UNTRANSLATABLE || e?.code === POSTGRES_INVALID_BYTES)
    return new ApiError(400, 'Text in this request may not contain the NUL character (\\u0000).', { code: 'invalid_value' });
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return requestTooLarge(bodyLimit);
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new ApiError(415, "Unsupported content type; send 'application/json'.", { code: 'unsupported_media_type' });
  if (e?.statusCode && e.statusCode < 500) return new ApiError(e.statusCode, e.message ?? 'Bad request');
  return new ApiError(500, 'Internal server error.', { type: 'server_error' });
}
