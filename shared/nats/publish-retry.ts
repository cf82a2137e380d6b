// When a JetStream cluster loses the leader of LLM_REQUESTS (its node died), it elects a new one;
// measured on nats-server 2.9 with three nodes on loopback (test/integration/cluster.test.ts), publishes
// find no responders for several seconds. Without a retry every request in that window is a 503. A
// retry keeps the request's Nats-Msg-Id, so one the cluster did store (a lost ack) is not stored
// twice (duplicate window 120 s). Only failed publishes come here: the hot path pays nothing.
import { isNoResponders, isTimeout } from './errors.ts';

/** How long a publish keeps retrying through a leader election before the client gets its 503. */
export const PUBLISH_RETRY_WINDOW_MS = 10_000;

/** A publish failure that a leader election (or a reconnect to another node) explains. */
export function isTransientPublishFailure(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return isNoResponders(err) || isTimeout(err) || isNoResponders(cause) || isTimeout(cause);
}

/** Retries `publish` after `firstError` with a growing pause while the failure is transient and the window lasts. */
export async function retryPublish(
  publish: () => Promise<unknown>,
  firstError: unknown,
  windowMs = PUBLISH_RETRY_WINDOW_MS,
): Promise<void> {
  const deadline = Date.now() + windowMs;
  let err = firstError;
  for (let pauseMs = 100; isTransientPublishFailure(err) && Date.now() + pauseMs < deadline; pauseMs = Math.min(pauseMs * 2, 1_000)) {
    await new Promise((r) => setTimeout(r, pauseMs));
    try {
      await publish();
      return;
    } catch (next) {
      err = next;
    }
  }
  throw err;
}
