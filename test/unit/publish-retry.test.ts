// A publish through a JetStream leader election is retried (same msg id) while the failure is
// transient and the window lasts; anything else fails at once.
import { describe, expect, it } from 'vitest';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { isTransientPublishFailure, retryPublish } from '../../shared/nats/publish-retry.ts';

const noResponders = () =>
  new RequestError('JetStream is not available (no responders)', { cause: new NoRespondersError('llm.req.openai.interactive') });

describe('retryPublish', () => {
  it('no responders, then a timeout, then success: resolves', async () => {
    const failures = [noResponders(), new RequestError('timed out', { cause: new TimeoutError() })];
    let calls = 0;
    await retryPublish(async () => {
      calls++;
      const f = failures.shift();
      if (f) throw f;
    }, noResponders());
    expect(calls).toBe(3);
  });

  it('a failure no election explains is thrown at once, without a retry', async () => {
    let calls = 0;
    const refused = new Error('maximum payload exceeded');
    await expect(retryPublish(async () => void calls++, refused)).rejects.toBe(refused);
    expect(calls).toBe(0);
  });

  it('gives up when the window is over', async () => {
    const started = Date.now();
    await expect(
      retryPublish(
        async () => {
          throw noResponders();
        },
        noResponders(),
        500,
      ),
    ).rejects.toThrow(/no responders/);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('recognises nats.js "jetstream is not enabled" by its no-responders cause', () => {
    const notEnabled = new Error('jetstream is not enabled', { cause: noResponders() });
    expect(isTransientPublishFailure(notEnabled)).toBe(true);
    expect(isTransientPublishFailure(new Error('jetstream is not enabled'))).toBe(false);
  });
});
