// The event that ends a request (result, done, error). In a JetStream cluster it is published to
// LLM_EVENTS with an ack and retried through a leader election, not fire-and-forget like token
// chunks: a core publish made while the stream has no leader is stored nowhere, and an ingress that
// was reconnecting at that moment would wait for the answer until its request timeout (seen in
// cluster.test.ts). Stored, the event reaches the ingress live or through its replay after a
// reconnect (reconnect-replay.ts).
// On a single server (NATS_STREAM_REPLICAS=1) the stream's only copy is on the server the worker
// is connected to, so there is no leader to lose: a core publish is stored as surely, and the ack
// round trip it saves was 10% of the worker's CPU per request (docs/benchmarks.md, "corefinal").
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamPublisher } from '../../shared/nats/publisher.ts';
import { retryPublish } from '../../shared/nats/publish-retry.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';

/** Longer than any leader election; a request's ack wait keeps running meanwhile. */
const FINAL_EVENT_RETRY_MS = 30_000;

export class FinalEvents {
  private readonly nc: NatsConnection;
  /** Only in a cluster: it holds a reply subscription and a sweep timer. */
  private readonly publisher: JetStreamPublisher | null;
  private readonly log: Logger;

  constructor(nc: NatsConnection, log: Logger, opts: { acked: boolean }) {
    this.nc = nc;
    this.publisher = opts.acked ? new JetStreamPublisher(nc) : null;
    this.log = log;
  }

  /**
   * Publishes at once (the ingress may get it live before the ack is back). In a cluster it returns
   * whether the event was stored, which the worker awaits before it acks the request: acked first, a
   * worker killed while the store was still being retried through an election took the only copy of
   * the answer with it, and nothing would ever redeliver the request (an async request stayed
   * `in_progress` for good in one cluster.test.ts run). Undefined on a single server: nothing to wait for.
   */
  publish(subject: string, data: string, msgId: string): Promise<boolean> | undefined {
    const publisher = this.publisher;
    if (!publisher) {
      this.nc.publish(subject, data);
      return undefined;
    }
    const send = () => publisher.publish(subject, data, headers(), msgId);
    return send()
      .catch((first: unknown) => retryPublish(send, first, FINAL_EVENT_RETRY_MS))
      .then(
        () => true,
        (err: Error) => {
          this.log.error({ err: err.message, subject }, 'final event not stored; the request is left to be redelivered');
          return false;
        },
      );
  }

  close(): void {
    this.publisher?.close();
  }
}
