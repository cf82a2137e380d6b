// The HTTP edge. Reads top to bottom: plumbing, auth, then one handler per route. It does no
// upstream work itself: it validates, publishes to JetStream, and renders the events that come back.
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Nats } from '../../shared/nats/connection.ts';
import type { Db } from '../../shared/db/database.ts';
import { pingDatabase } from '../../shared/db/database.ts';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import { maxRequestBodyBytes, requestTooLarge } from '../../shared/nats/payload-limits.ts';
import { exceedsJsonDepth } from '../../shared/protocol/json-depth.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { KeyAuthenticator } from './auth.ts';
import { adminRoutes } from './admin.ts';
import { EventRouter } from './event-router.ts';
import { answerClientError, answerFrameworkError } from './framework-errors.ts';
import { Dispatcher } from './dispatcher.ts';
import { requestIdMaker } from './request-ids.ts';
import { logAccess } from './access-log.ts';
import { traceRequests } from './request-tracing.ts';
import { observeRequest } from './request-metrics.ts';
// ---- tenant controls, routing policy, metrics (docs/guardrails.md) ----
import { Admission, type Admitted } from './admission.ts';
import { openLimitBuckets } from '../../shared/limits/kv.ts';
import { priceBookFromConfig } from '../../shared/config/file.ts';
import { METRICS_UNAUTHORIZED_BODY, metricsAuthorized, registerQueueDepth, registry } from '../../shared/telemetry/metrics.ts';
import { adapterNames } from '../../shared/providers/registry.ts';
// ---- async work: files, batches, async requests, resumable streams, WebSocket (async-work.ts) ----
import { createAsyncWork } from './async-work.ts';
import { chatRoutes } from './routes/chat.ts';
import { responsesRoutes } from './routes/responses.ts';
import { requestDispatch } from './request-dispatch.ts';
// ---- API reference (/openapi.json, /docs) and web console (/console) ----
import { webRoutes } from './routes/web.ts';
import { consoleApiRoutes } from './routes/console-api.ts';
import './openapi/core-routes.ts';
import { modelRoutes } from './routes/models.ts';
import { completionRoutes } from './routes/completions.ts';
import { ResponseCache } from './response-cache/response-cache.ts';
// ---- graceful operations: drain on SIGTERM, config reload on SIGHUP (docs/scaling.md) ----
import { Readiness } from '../../shared/runtime/readiness.ts';
import type { ConfigReload } from '../../shared/runtime/config-reload.ts';
import { drainRequests } from './drain.ts';
import { replayAfterReconnect } from './reconnect-replay.ts';
import { IngressGuardrails } from './guardrails.ts';
import { lazyCompilersFactory } from './fastify-compilers.ts';
import { GuardrailRegistry } from '../../shared/guardrails/registry.ts';

export { SIMULATED_HEADER } from './answer-headers.ts';

export interface IngressOptions {
  config: SwitchyardConfig;
  nats: Nats;
  db: Db;
  log: Logger;
  /** The process's readiness (boot()); without one the ingress watches its own NATS connection. */
  readiness?: Readiness;
  reload?: ConfigReload;
}

export interface Ingress {
  app: FastifyInstance;
  ingressId: string;
  /** Every route registered, as `METHOD /path` (test/integration/openapi.test.ts checks the document lists them). */
  routes: string[];
  /** /readyz 503 and new requests 503 from now on; resolves once in-flight requests end (true) or after `timeoutMs` (false). */
  drain(timeoutMs: number): Promise<boolean>;
  /** Content guardrail definitions; `guardrails.replace(fileConfig)` swaps them on a config reload. */
  guardrails: GuardrailRegistry;
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
  replayAfterReconnect(nats, router, ingressId, log);
  const dispatcher = new Dispatcher(nats, router, ingressId, config.REQUEST_TIMEOUT_MS);
  const readiness = opts.readiness ?? new Readiness(nc);
  const prices = priceBookFromConfig(config.file ?? null);
  const stopReloading = opts.reload?.register({
    name: 'ingress prices',
    prepare: (next) => {
      const book = priceBookFromConfig(next);
      return () => prices.replaceWith(book);
    },
  });
  // ---- tenant controls: limits and budgets in NATS KV (services/ingress/admission.ts) ----
  const admission = new Admission({
    buckets: await openLimitBuckets(nc).catch((err: Error) => {
      log.error({ err: err.message }, 'limiter KV buckets unavailable: rate limits fail open, budgets fail closed');
      return null;
    }),
    db,
    prices,
    holder: ingressId,
    defaultMaxTokens: config.LIMITS_DEFAULT_MAX_TOKENS,
    log,
  });
  registerQueueDepth(nats.jsm, adapterNames(config.file));
  const responseCache = new ResponseCache({ nats, config, log });
  const guardrailRegistry = new GuardrailRegistry(config.file ?? null, { log });
  // SIGHUP: guardrail definitions follow the file.
  const stopReloadingGuardrails = opts.reload?.register(guardrailRegistry.reloadHook('ingress guardrails'));

  // A body the NATS server cannot carry is refused here with 413, not later as a 503 (docs/security.md).
  const bodyLimit = maxRequestBodyBytes(nc);
  const app = Fastify({
    loggerInstance: log.child({ ingressId }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // No pino child logger per request: at load those allocations doubled the time spent in GC.
    // Log lines that concern a request name it with `reqId` explicitly.
    childLoggerFactory: (logger) => logger,
    bodyLimit,
    genReqId: requestIdMaker(ingressId),
    // Requests that arrive while closing get a 503 in the envelope from the hook below, not Fastify's own body.
    return503OnClosing: false,
    // Errors answered before the error handler runs still get the OpenAI envelope.
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    schemaController: { compilersFactory: lazyCompilersFactory },
  });

  const routes: string[] = [];
  app.addHook('onRoute', (r) => void routes.push(...[r.method].flat().map((m) => `${m} ${r.url}`)));

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
  // Hooks on every request take Fastify's callback form: an async hook costs a promise and a microtask
  // turn per request for work that never waits.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    if (!closing) return done();
    done(
      new ApiError(503, 'This server is shutting down; retry the request.', {
        type: 'server_error',
        code: 'service_unavailable',
        headers: { connection: 'close' },
      }),
    );
  });
  const inflight = drainRequests(app, readiness);
  // Metrics per route template (bounded label set); hijacked streams end in dispatch() below.
  app.addHook('onResponse', (req, reply, done) => {
    observeRequest(req, reply);
    done();
  });

  logAccess(app);
  traceRequests(app);

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
  const guardrails = new IngressGuardrails(guardrailRegistry, nats.js, log);
  const asyncWork = await createAsyncWork({ config, nats, db, log, auth, dispatcher, authenticate, admission, guardrails });

  // ---- ops ----
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (req, reply) => {
    if (!metricsAuthorized(req.headers.authorization, config.METRICS_TOKEN))
      return reply.code(401).header('www-authenticate', 'Bearer').type('application/json').send(METRICS_UNAUTHORIZED_BODY);
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/readyz', async (_req, reply) => {
    const natsOk = readiness.nats;
    const dbOk = await pingDatabase(db);
    const ready = natsOk && dbOk && !readiness.draining;
    const status = ready ? 'ready' : readiness.draining ? 'draining' : 'unavailable';
    return reply.code(ready ? 200 : 503).send({ status, nats: natsOk, database: dbOk });
  });
  await app.register(adminRoutes, { db, nc, auth, adminApiKey: config.ADMIN_API_KEY, guardrails: guardrailRegistry });
  await app.register(asyncWork.routes);
  await app.register(webRoutes);
  await app.register(consoleApiRoutes, { db, auth, adminApiKey: config.ADMIN_API_KEY });

  // ---- OpenAI API ----
  await app.register(modelRoutes, { config, log, authenticate });

  // Chat completions, embeddings and Anthropic Messages (routes/chat.ts), Responses and legacy
  // completions: every one through the same admission, publish and events back.
  const dispatch = requestDispatch({ dispatcher, admission, resume: asyncWork.resume });
  await app.register(chatRoutes, { config, dispatch, admission, asyncWork, authenticate, responseCache, guardrails });
  await app.register(responsesRoutes, { config, db, dispatch, authenticate, guardrails });
  await app.register(completionRoutes, { config, dispatch, authenticate, guardrails });

  return {
    app,
    ingressId,
    routes,
    drain(timeoutMs) {
      readiness.draining = true;
      return inflight.settled(timeoutMs);
    },
    guardrails: guardrailRegistry,
    async close() {
      stopReloading?.();
      stopReloadingGuardrails?.();
      // In-flight requests get a short drain; then every connection is closed, so a shutdown never
      // waits on a request whose client left (or a long stream) until the process is force-exited.
      const drain = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_DRAIN_MS);
      await app.close();
      clearTimeout(drain);
      await asyncWork.close();
      admission.close();
      responseCache.close();
      dispatcher.close();
      router.close();
      auth.close();
    },
  };
}

/** How long a closing ingress waits for in-flight requests before it closes their connections. */
const SHUTDOWN_DRAIN_MS = 5_000;

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
