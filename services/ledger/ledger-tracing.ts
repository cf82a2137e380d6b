// The ledger's span in each request's trace: one `ledger write` per traced usage record, parented
// to the worker attempt named by the record's traceparent, spanning the transaction that stored it.
// Only called while tracing is on.
import type { UsageRecord } from '../../shared/protocol/events.ts';
import { contextOfTraceparent, getTracer, SpanKind } from '../../shared/telemetry/tracing.ts';

export function traceLedgerWrite(records: readonly UsageRecord[], startedAt: number, endedAt: number): void {
  const tracer = getTracer();
  for (const r of records) {
    if (!r.traceparent) continue;
    tracer
      .startSpan(
        'ledger write',
        {
          kind: SpanKind.INTERNAL,
          startTime: startedAt,
          attributes: {
            'db.system.name': 'postgresql',
            'db.operation.name': 'INSERT',
            'db.collection.name': 'usage',
            'switchyard.request_id': r.request_id,
            'switchyard.usage.status': r.status,
            'switchyard.ledger.batch_size': records.length,
          },
        },
        contextOfTraceparent(r.traceparent),
      )
      .end(endedAt);
  }
}
