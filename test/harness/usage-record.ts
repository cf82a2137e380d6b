// A usage record as a worker publishes it (shared/protocol/events.ts), for tests that feed the ledger
// or the usage publisher directly: a plain successful chat request; `over` sets what a test is about.
import type { UsageRecord } from '../../shared/protocol/events.ts';

export function usageRecord(over: Partial<UsageRecord> & Pick<UsageRecord, 'request_id' | 'tenant_id'>): UsageRecord {
  const now = new Date().toISOString();
  return {
    key_id: null,
    provider: 'openai',
    model: 'openai/gpt-4o-mini',
    upstream_model: 'gpt-4o-mini',
    kind: 'chat',
    status: 'ok',
    input_tokens: 3,
    cached_input_tokens: 0,
    output_tokens: 2,
    reasoning_tokens: 0,
    cost_usd: 0,
    attempts: 1,
    error_code: null,
    batch_id: null,
    received_at: now,
    first_token_at: null,
    completed_at: now,
    ...over,
  };
}
