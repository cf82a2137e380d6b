// The ingress's per-request series: route template, the provider that served (known once the
// worker's answer arrived), the model as a bounded label (known names, else `other`), status code.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { metrics } from '../../shared/telemetry/metrics.ts';
import { modelLabels } from '../../shared/telemetry/model-labels.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The provider that served the answer (after fallbacks), set with `usage` from the terminal event. */
    servedBy?: string;
  }
}

export function observeRequest(req: FastifyRequest, reply: FastifyReply): void {
  const route = req.routeOptions.url ?? 'unmatched';
  const provider = req.servedBy ?? '';
  const model = req.routeOptions.url ? modelLabels.label((req.body as { model?: unknown } | undefined)?.model) : '';
  metrics.requests.inc({ route, provider, model, status: String(reply.statusCode) });
  metrics.requestDuration.observe({ route, provider, model }, reply.elapsedTime / 1000);
}
