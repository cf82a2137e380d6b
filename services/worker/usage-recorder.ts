// One UsageRecord per request, whatever its end (answered, failed, cancelled, dropped unrun): built
// from the envelope and what the worker learned, counted in the metrics, then published for the ledger.
import type { Usage, UsageRecord } from '../../shared/protocol/events.ts';
import type { RequestEnvelope } from '../../shared/nats/request-envelope.ts';
import type { RouteTarget } from '../../shared/protocol/targets.ts';
import type { PriceBook } from '../../shared/config/prices.ts';
import { metrics } from '../../shared/telemetry/metrics.ts';
import { modelLabels } from '../../shared/telemetry/model-labels.ts';
import { activeTraceparent, tracing } from '../../shared/telemetry/tracing.ts';

/** What the worker knows about a request when it records it; fallbacks change `served` and `attempts`. */
export interface UsageFacts {
  /** The target that served (or was tried last). */
  served: RouteTarget;
  /** Upstream calls made. */
  attempts: number;
  /** Epoch ms the worker took the request. */
  startedAt: number;
}

export type RecordUsage = (usage: Usage, status: UsageRecord['status'], extra?: Partial<UsageRecord>) => Promise<void>;

export function buildUsageRecord(
  envelope: RequestEnvelope,
  facts: UsageFacts,
  u: Usage,
  status: UsageRecord['status'],
  extra: Partial<UsageRecord>,
  prices: Pick<PriceBook, 'cost'>,
  now = Date.now(),
): UsageRecord {
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  const { served } = facts;
  return {
    request_id: envelope.requestId,
    tenant_id: envelope.tenantId,
    key_id: envelope.keyId,
    provider: served.provider,
    model: envelope.publicModel,
    upstream_model: served.model,
    kind: envelope.kind,
    status,
    input_tokens: u.prompt_tokens,
    cached_input_tokens: cached,
    output_tokens: u.completion_tokens,
    reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
    cost_usd: prices.cost(served.provider, served.model, { input: u.prompt_tokens, cached, output: u.completion_tokens }),
    attempts: facts.attempts,
    error_code: null,
    batch_id: envelope.batchId,
    received_at: new Date(envelope.receivedAt).toISOString(),
    first_token_at: null,
    completed_at: new Date(now).toISOString(),
    ...extra,
  };
}

export class UsageRecorder {
  private readonly sink: { publish(record: UsageRecord): Promise<void> };
  private readonly prices: Pick<PriceBook, 'cost'>;

  constructor(sink: { publish(record: UsageRecord): Promise<void> }, prices: Pick<PriceBook, 'cost'>) {
    this.sink = sink;
    this.prices = prices;
  }

  /** A recorder bound to one request; resolves once the record is stored. */
  forRequest(envelope: RequestEnvelope, facts: UsageFacts): RecordUsage {
    return (u, status, extra = {}) => {
      const now = Date.now();
      const rec = buildUsageRecord(envelope, facts, u, status, extra, this.prices, now);
      if (tracing.on) rec.traceparent = activeTraceparent();
      countUsage(envelope, facts, rec, now);
      return this.sink.publish(rec);
    };
  }
}

/** The request's series in /metrics, once per request when its record is made. */
function countUsage(envelope: RequestEnvelope, facts: UsageFacts, rec: UsageRecord, now: number): void {
  const provider = rec.provider;
  const model = modelLabels.label(envelope.publicModel);
  metrics.llmRequests.inc({ provider, model, kind: rec.kind, status: rec.status });
  metrics.tokens.inc({ provider, model, direction: 'input' }, rec.input_tokens);
  metrics.tokens.inc({ provider, model, direction: 'output' }, rec.output_tokens);
  if (rec.cost_usd > 0) metrics.cost.inc({ provider, model }, rec.cost_usd);
  metrics.upstreamDuration.observe({ provider }, (now - facts.startedAt) / 1000);
  // Requests dropped unrun never reached a worker's queue handling (attempts 0): no wait to count.
  if (facts.attempts > 0)
    metrics.queueWait.observe(
      { provider: envelope.provider, priority: envelope.priority },
      Math.max(0, facts.startedAt - envelope.receivedAt) / 1000,
    );
  if (envelope.stream && rec.first_token_at)
    metrics.timeToFirstToken.observe({ provider, model }, Math.max(0, Date.parse(rec.first_token_at) - envelope.receivedAt) / 1000);
}
