// SIGTERM on an ingress: /readyz turns 503 (the load balancer stops sending), new API requests get a
// 503 that tells the client to retry (elsewhere), and requests in flight, long streams included, are
// counted down to zero before the server closes. Probes and metrics keep answering meanwhile.
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../shared/protocol/errors.ts';
import type { Readiness } from '../../shared/runtime/readiness.ts';

const ALWAYS_ANSWERED = new Set(['/healthz', '/readyz', '/metrics']);

export interface InflightRequests {
  readonly count: number;
  /** Resolves true when nothing is in flight any more, false when `timeoutMs` passed first. */
  settled(timeoutMs: number): Promise<boolean>;
}

export function drainRequests(app: FastifyInstance, readiness: Readiness): InflightRequests {
  let count = 0;
  let wake: (() => void) | null = null;
  app.addHook('onRequest', (req, reply, done) => {
    if (ALWAYS_ANSWERED.has(req.routeOptions.url ?? '')) return done();
    if (readiness.draining)
      return done(
        new ApiError(503, 'This server is shutting down; retry the request.', {
          type: 'server_error',
          code: 'service_unavailable',
          headers: { connection: 'close', 'retry-after': '1' },
        }),
      );
    count++;
    // 'close' fires once the response is sent or the connection is gone, hijacked SSE streams included.
    reply.raw.once('close', () => {
      count--;
      if (count === 0) wake?.();
    });
    done();
  });
  return {
    get count() {
      return count;
    },
    async settled(timeoutMs) {
      if (count === 0) return true;
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<boolean>((resolve) => (wake = () => resolve(true)));
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      const done = await Promise.race([idle, late]);
      clearTimeout(timer);
      wake = null;
      return done;
    },
  };
}
