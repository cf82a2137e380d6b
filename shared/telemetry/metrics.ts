// Prometheus metrics (prom-client). Defined once per process in one registry, so `npm start` (every
// service in one process) exposes ingress and worker metrics on one /metrics. Label values come
// from small fixed sets (provider, reason, status class), never from request or tenant ids; `model`
// only takes names the deployment knows (model-labels.ts). The series: docs/observability.md.
import { timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer } from '../runtime/node-http.ts';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { JetStreamManager } from '@nats-io/jetstream';
import { consumerNames, resultConsumers, STREAMS, type Priority } from '../nats/topology.ts';
import { BufferedCounter } from './buffered-counter.ts';
import { BufferedHistogram } from './buffered-histogram.ts';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'switchyard_' });

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export const metrics = {
  requests: new BufferedCounter({
    name: 'switchyard_requests_total',
    help: 'HTTP requests answered by the ingress, by route, provider that served, model (known names, else other) and status code',
    labelNames: ['route', 'provider', 'model', 'status'] as const,
    registers: [registry],
  }),
  requestDuration: new BufferedHistogram({
    name: 'switchyard_request_duration_seconds',
    help: 'Time from request received to response finished (streams: to the last byte)',
    labelNames: ['route', 'provider', 'model'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  }),
  llmRequests: new BufferedCounter({
    name: 'switchyard_llm_requests_total',
    help: 'Requests finished by workers, every surface (HTTP, WebSocket, async, batch), by provider, model, kind and outcome',
    labelNames: ['provider', 'model', 'kind', 'status'] as const,
    registers: [registry],
  }),
  timeToFirstToken: new BufferedHistogram({
    name: 'switchyard_time_to_first_token_seconds',
    help: 'Streams: from the ingress publishing the request to the worker relaying its first token',
    labelNames: ['provider', 'model'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30],
    registers: [registry],
  }),
  queueWait: new BufferedHistogram({
    name: 'switchyard_queue_wait_seconds',
    help: 'From the ingress publishing a request to a worker taking it, by queue',
    labelNames: ['provider', 'priority'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120],
    registers: [registry],
  }),
  batchLines: new Counter({
    name: 'switchyard_batch_lines_total',
    help: 'Batch lines whose result was stored, by outcome (completed, failed)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  rejections: new Counter({
    name: 'switchyard_rejections_total',
    help: 'Requests refused by a guardrail, by reason (requests, tokens, concurrency, budget, ...)',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  // Label values are guardrail names from the config file: a small set the operator chose.
  guardrailResults: new Counter({
    name: 'switchyard_guardrail_results_total',
    help: 'Content guardrail checks by guardrail, mode and outcome (pass, block, mask, log, error_open, error_closed)',
    labelNames: ['guardrail', 'mode', 'outcome'] as const,
    registers: [registry],
  }),
  natsTopologyRestores: new Counter({
    name: 'switchyard_nats_topology_restores_total',
    help: 'Times this process put the NATS topology back after a reconnect (a restarted nats-server drops its memory-stored streams)',
    registers: [registry],
  }),
  natsTopologyMissing: new Gauge({
    name: 'switchyard_nats_topology_missing',
    help: '1 from a NATS reconnect until this process has put the topology back (retrying while JetStream recovers), else 0',
    registers: [registry],
  }),
  limiterErrors: new Counter({
    name: 'switchyard_limiter_errors_total',
    help: 'Limiter state (NATS KV) unreachable; rate limits fail open, budgets fail closed',
    labelNames: ['store'] as const,
    registers: [registry],
  }),
  upstreamRequests: new BufferedCounter({
    name: 'switchyard_upstream_requests_total',
    help: 'Upstream calls made by workers, by provider and outcome (ok, or the HTTP status / error code)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  }),
  upstreamDuration: new BufferedHistogram({
    name: 'switchyard_upstream_duration_seconds',
    help: 'Time from a worker taking a request to its terminal event',
    labelNames: ['provider'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  }),
  tokens: new BufferedCounter({
    name: 'switchyard_tokens_total',
    help: 'Tokens served, by provider, model and direction (input, output)',
    labelNames: ['provider', 'model', 'direction'] as const,
    registers: [registry],
  }),
  cost: new BufferedCounter({
    name: 'switchyard_cost_usd_total',
    help: 'Cost of served requests in USD (price book), by provider and model',
    labelNames: ['provider', 'model'] as const,
    registers: [registry],
  }),
  cacheLookups: new Counter({
    name: 'switchyard_response_cache_lookups_total',
    help: 'Response cache lookups of requests that asked for caching: hit, miss, or error (KV unavailable, served as a miss)',
    labelNames: ['result'] as const,
    registers: [registry],
  }),
  cacheStores: new Counter({
    name: 'switchyard_response_cache_stores_total',
    help: 'Answers offered to the response cache: stored, too_large, not_cacheable (finish reason, error) or error (KV)',
    labelNames: ['result'] as const,
    registers: [registry],
  }),
  retries: new Counter({
    name: 'switchyard_upstream_retries_total',
    help: 'Retries of the same upstream target after a retryable failure',
    labelNames: ['provider'] as const,
    registers: [registry],
  }),
  fallbacks: new Counter({
    name: 'switchyard_fallbacks_total',
    help: 'Requests moved to their next target, by the target left and why',
    labelNames: ['from', 'reason'] as const,
    registers: [registry],
  }),
  breakerState: new Gauge({
    name: 'switchyard_breaker_state',
    help: 'Circuit breaker per upstream target in this worker process: 0 closed, 1 open, 2 half-open',
    labelNames: ['target'] as const,
    registers: [registry],
  }),
  upstreamKeyQueued: new Gauge({
    name: 'switchyard_upstream_key_queued',
    help: 'Requests waiting for an upstream key limiter (bottleneck), by provider and key index',
    labelNames: ['provider', 'key'] as const,
    registers: [registry],
  }),
};

/**
 * Queue depth per provider from the JetStream consumers, fetched when scraped (at most every 2 s),
 * never per request.
 */
export function registerQueueDepth(jsm: JetStreamManager, providers: readonly string[]): void {
  if (registry.getSingleMetric('switchyard_queue_depth')) return;
  let last = 0;
  let cache: Array<{ provider: string; priority: Priority; pending: number; inflight: number; redelivered: number }> = [];
  let usageBacklog: number | null = null;
  const resultsBacklog = new Map<string, number>();
  // Every gauge of a scrape waits for the same fetch: answered from the previous sample while one was
  // under way, the first scrape after a start had no backlog series at all.
  let fetching: Promise<typeof cache> | null = null;
  const sample = (): Promise<typeof cache> => {
    if (fetching) return fetching;
    if (Date.now() - last < 2_000) return Promise.resolve(cache);
    last = Date.now();
    fetching = fetchSample().finally(() => (fetching = null));
    return fetching;
  };
  const fetchSample = async () => {
    const out: typeof cache = [];
    await Promise.all([
      ...providers.flatMap((provider) =>
        (['interactive', 'batch'] as Priority[]).map(async (priority) => {
          try {
            const ci = await jsm.consumers.info(STREAMS.requests, consumerNames.worker(provider, priority));
            out.push({ provider, priority, pending: ci.num_pending, inflight: ci.num_ack_pending, redelivered: ci.num_redelivered });
          } catch {
            // consumer missing or NATS away: no sample for it this time
          }
        }),
      ),
      jsm.consumers.info(STREAMS.usage, consumerNames.ledger).then(
        (ci) => (usageBacklog = ci.num_pending + ci.num_ack_pending),
        () => (usageBacklog = null),
      ),
      ...resultConsumers.map(({ owner, durable }) =>
        jsm.consumers.info(STREAMS.results, durable).then(
          (ci) => resultsBacklog.set(owner, ci.num_pending + ci.num_ack_pending),
          () => resultsBacklog.delete(owner),
        ),
      ),
    ]);
    return (cache = out);
  };
  new Gauge({
    name: 'switchyard_queue_depth',
    help: 'Requests queued in JetStream not yet taken by a worker, per provider and priority (sampled)',
    labelNames: ['provider', 'priority'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) this.set({ provider: s.provider, priority: s.priority }, s.pending);
    },
  });
  new Gauge({
    name: 'switchyard_queue_inflight',
    help: 'Requests taken by workers and not yet acknowledged, per provider and priority (sampled)',
    labelNames: ['provider', 'priority'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) this.set({ provider: s.provider, priority: s.priority }, s.inflight);
    },
  });
  new Gauge({
    name: 'switchyard_queue_redelivered',
    help: 'Requests redelivered (a worker died or timed out holding them) and not yet acknowledged (sampled)',
    labelNames: ['provider', 'priority'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) this.set({ provider: s.provider, priority: s.priority }, s.redelivered);
    },
  });
  new Gauge({
    name: 'switchyard_usage_backlog',
    help: 'Usage records in LLM_USAGE not yet written to the database by a ledger (sampled); grows while the database is down',
    registers: [registry],
    async collect() {
      this.reset();
      await sample();
      if (usageBacklog !== null) this.set(usageBacklog);
    },
  });
  new Gauge({
    name: 'switchyard_results_backlog',
    help: 'Batch line and async request results in LLM_RESULTS not yet stored in the database (sampled); grows while the database or every batch runner is away',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await sample();
      for (const [kind, n] of resultsBacklog) this.set({ kind }, n);
    },
  });
}

/**
 * With METRICS_TOKEN set, /metrics answers only `Authorization: Bearer <token>` (compared in constant
 * time): label values and queue depths tell an outsider more than they should.
 */
export function metricsAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const presented = Buffer.from(/^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

export const METRICS_UNAUTHORIZED_BODY = JSON.stringify({
  error: {
    message: 'GET /metrics needs the metrics token as a bearer token.',
    type: 'invalid_request_error',
    param: null,
    code: 'invalid_metrics_token',
  },
});

/** A bare HTTP server for GET /metrics (worker processes have no Fastify). */
export async function serveMetrics(port: number, host = '0.0.0.0', token?: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (!metricsAuthorized(req.headers.authorization, token)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }).end(METRICS_UNAUTHORIZED_BODY);
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
