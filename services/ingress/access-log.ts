// One access-log line per answered request, at info, from one onResponse hook: who (request id,
// tenant), what (method, route template, model), how it ended (status, duration, tokens). Client
// errors are ordinary traffic and are only logged here; the error handler logs 5xx and the unexpected.
// Probes and scrapes (/healthz, /readyz, /metrics) log at debug, or they would drown the rest.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../../shared/protocol/events.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Tokens of the answer, set when the worker's terminal event arrives (for the access line). */
    usage?: Pick<Usage, 'prompt_tokens'> & Partial<Pick<Usage, 'completion_tokens'>>;
  }
}

const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/** Whether the request's logger writes `level` (it is pino's, see server.ts; Fastify's type omits this). */
const enabled = (req: FastifyRequest, level: 'info' | 'debug') =>
  (req.log as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(level);

export function accessLine(req: FastifyRequest, reply: FastifyReply) {
  const body = req.body as { model?: unknown } | undefined;
  return {
    reqId: req.id,
    tenant: req.principal?.tenantId ?? null,
    method: req.method,
    route: req.routeOptions.url ?? 'unmatched',
    // Tenant-chosen text: cut, so a rejected 8 MB model name cannot become an 8 MB log line.
    model: typeof body?.model === 'string' ? body.model.slice(0, 256) : null,
    status: reply.statusCode,
    ms: Math.round(reply.elapsedTime * 10) / 10,
    tokens_in: req.usage?.prompt_tokens ?? null,
    tokens_out: req.usage?.completion_tokens ?? null,
  };
}

export function logAccess(app: FastifyInstance): void {
  // Below info (LOG_LEVEL=warn, as the benchmarks run) neither hook builds a line or adds a listener:
  // per request, that was an object and a 'close' listener for a line nobody writes.
  app.addHook('onResponse', (req, reply, done) => {
    const level = QUIET_ROUTES.has(req.routeOptions.url ?? 'unmatched') ? 'debug' : 'info';
    if (enabled(req, level)) req.log[level](accessLine(req, reply), 'request');
    done();
  });
  // onResponse runs on the response's `finish`; a client that hangs up mid-answer (a dropped stream)
  // never gets there, so its line is written on `close` instead, marked aborted.
  app.addHook('onRequest', (req, reply, done) => {
    if (!enabled(req, 'info')) return done();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) req.log.info({ ...accessLine(req, reply), aborted: true }, 'request');
    });
    done();
  });
}
