// The JetStream gauges of /metrics (queue depth, usage and results backlog) share one sample of the
// consumers per scrape. Before, only the first gauge waited for it and the others answered from the
// previous sample: the first scrape after a start had no backlog series.
import { describe, expect, it } from 'vitest';
import type { JetStreamManager } from '@nats-io/jetstream';
import { registerQueueDepth, registry } from '../../shared/telemetry/metrics.ts';
import { STREAMS } from '../../shared/nats/topology.ts';

describe('JetStream gauges', () => {
  it('has every series on the first scrape, from one sample of the consumers', async () => {
    let calls = 0;
    const jsm = {
      consumers: {
        async info(stream: string, durable: string) {
          calls++;
          await new Promise((r) => setTimeout(r, 30)); // a round trip to nats-server
          const pending = stream === STREAMS.usage ? 7 : stream === STREAMS.results ? (durable === 'batch-results' ? 5 : 2) : 3;
          return { num_pending: pending, num_ack_pending: 1, num_redelivered: 0 };
        },
      },
    } as unknown as JetStreamManager;
    registerQueueDepth(jsm, ['openai']);
    const text = await registry.metrics();
    expect(text).toContain('switchyard_queue_depth{provider="openai",priority="interactive"} 3');
    expect(text).toContain('switchyard_usage_backlog 8');
    expect(text).toContain('switchyard_results_backlog{kind="batch"} 6');
    expect(text).toContain('switchyard_results_backlog{kind="async"} 3');
    // Two request consumers, the ledger's, two results consumers: one sample for the whole scrape.
    expect(calls).toBe(5);
    await registry.metrics();
    expect(calls).toBe(5); // and none again within 2 s
  });
});
