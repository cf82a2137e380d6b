import { describe, expect, it } from 'vitest';
import { buildUsageRecord, UsageRecorder, type UsageFacts } from '../../services/worker/usage-recorder.ts';
import type { RequestEnvelope } from '../../shared/nats/request-envelope.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';

const envelope: RequestEnvelope = {
  requestId: 'req-1',
  tenantId: 'tenant-1',
  keyId: 'key-1',
  ingressId: 'ing-1',
  kind: 'chat',
  provider: 'openai',
  model: 'gpt-4o-mini',
  publicModel: 'fast',
  stream: false,
  priority: 'batch',
  batchId: 'batch_1',
  receivedAt: Date.UTC(2026, 0, 1, 0, 0, 0),
  deadline: 0,
  targets: [
    { provider: 'openai', model: 'gpt-4o-mini' },
    { provider: 'anthropic', model: 'claude-haiku' },
  ],
};

// Prices per token, so the expected cost is plain arithmetic.
const prices = {
  cost: (provider: string, model: string, t: { input: number; cached: number; output: number }) =>
    provider === 'anthropic' && model === 'claude-haiku' ? t.input * 0.001 + t.output * 0.002 : 0,
};

describe('usage record', () => {
  it('bills the target that served, under the model the client named', () => {
    const facts: UsageFacts = { served: { provider: 'anthropic', model: 'claude-haiku' }, attempts: 3, startedAt: 0 };
    const rec = buildUsageRecord(
      envelope,
      facts,
      {
        prompt_tokens: 100,
        completion_tokens: 20,
        total_tokens: 120,
        prompt_tokens_details: { cached_tokens: 40 },
        completion_tokens_details: { reasoning_tokens: 5 },
      },
      'ok',
      { first_token_at: '2026-01-01T00:00:01.000Z' },
      prices,
      Date.UTC(2026, 0, 1, 0, 0, 2),
    );
    expect(rec).toEqual({
      request_id: 'req-1',
      tenant_id: 'tenant-1',
      key_id: 'key-1',
      provider: 'anthropic',
      model: 'fast',
      upstream_model: 'claude-haiku',
      kind: 'chat',
      status: 'ok',
      input_tokens: 100,
      cached_input_tokens: 40,
      output_tokens: 20,
      reasoning_tokens: 5,
      cost_usd: 0.1 + 0.04,
      attempts: 3,
      error_code: null,
      batch_id: 'batch_1',
      received_at: '2026-01-01T00:00:00.000Z',
      first_token_at: '2026-01-01T00:00:01.000Z',
      completed_at: '2026-01-01T00:00:02.000Z',
    });
  });

  it('reads served target and attempts when recording, after a fallback changed them', async () => {
    const published: UsageRecord[] = [];
    const recorder = new UsageRecorder({ publish: async (r) => void published.push(r) }, prices);
    const facts: UsageFacts = { served: { provider: 'openai', model: 'gpt-4o-mini' }, attempts: 1, startedAt: Date.now() };
    const record = recorder.forRequest(envelope, facts);
    facts.served = { provider: 'anthropic', model: 'claude-haiku' };
    facts.attempts = 2;
    await record({ prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 }, 'error', { error_code: 'rate_limit_exceeded' });
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      provider: 'anthropic',
      upstream_model: 'claude-haiku',
      attempts: 2,
      status: 'error',
      error_code: 'rate_limit_exceeded',
    });
  });

  it('passes a failed publish on, so the request stays unacked', async () => {
    const recorder = new UsageRecorder({ publish: () => Promise.reject(new Error('no JetStream')) }, prices);
    const record = recorder.forRequest(envelope, {
      served: { provider: 'openai', model: 'gpt-4o-mini' },
      attempts: 1,
      startedAt: Date.now(),
    });
    await expect(record({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, 'ok')).rejects.toThrow('no JetStream');
  });
});
