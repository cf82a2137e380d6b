// The ingress request span (SpanKind.SERVER), continuing the client's W3C `traceparent`/`tracestate`.
// Registered only when tracing is on: with it off the ingress has no tracing hook at all.
// The span is remembered by request id until the request ends, so publishRequest() can put its
// context into the NATS headers (shared/telemetry/tracing.ts).
import type { FastifyInstance } from 'fastify';
import { propagation, ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { forgetIngressSpan, getTracer, markError, rememberIngressSpan, tracing } from '../../shared/telemetry/tracing.ts';
import { genAiRequestAttributes, genAiUsageAttributes } from '../../shared/telemetry/genai-attributes.ts';

/** Routes that answer with a model's output; their spans carry gen_ai.* attributes. */
const GENAI_ROUTES: Record<string, 'chat' | 'embeddings'> = {
  '/v1/chat/completions': 'chat',
  '/v1/embeddings': 'embeddings',
};

/** Probes and scrapes are not traced: at one per second they would be most of the spans. */
const UNTRACED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

export function traceRequests(app: FastifyInstance): void {
  if (!tracing.on) return;
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route && UNTRACED_ROUTES.has(route)) return;
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = getTracer().startSpan(
      `${req.method} ${route ?? 'unmatched'}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'http.route': route ?? 'unmatched',
          'url.path': req.url.split('?')[0],
          'switchyard.request_id': req.id,
        },
      },
      parent,
    );
    rememberIngressSpan(req.id, span);
    // `close` comes for every response: finished, hijacked (SSE) or dropped by the client.
    reply.raw.once('close', () => {
      forgetIngressSpan(req.id);
      const status = reply.raw.statusCode;
      span.setAttribute('http.response.status_code', status);
      const operation = route ? GENAI_ROUTES[route] : undefined;
      if (operation) {
        const model = (req.body as { model?: unknown } | undefined)?.model;
        span.setAttributes(genAiRequestAttributes(operation, req.servedBy ?? null, typeof model === 'string' ? model.slice(0, 256) : null));
        if (req.usage) span.setAttributes(genAiUsageAttributes(req.usage));
      }
      if (status >= 500) markError(span, String(status));
      if (!reply.raw.writableFinished) span.setAttribute('switchyard.client_aborted', true);
      span.end();
    });
  });
}
