// Batches usage records into one JetStream publish per tenant (and field set: shared/nats/usage-message.ts)
// every few milliseconds: one unbatched
// publish per request halves a worker's throughput. The ledger inserts with ON CONFLICT DO NOTHING,
// so a batch published twice (retry after a lost ack) still counts once.
// 20 ms or 32 records, whichever comes first: at a moderate rate each batch is four NATS messages
// (publish, its ack, the ledger's delivery and ack), and 5 ms made a batch of ~3 records at 600 req/s;
// at 20 ms the broker and nats-server spend 6-7% less per request there, with the same throughput at
// maximum load (32 records fill in ~7 ms at 4,000 req/s). Nothing waits for a usage row, but the
// request's ack does wait for its record, so a crash in those 20 ms runs the request again (billed
// once: rows are keyed by request id). docs/benchmarks.md, "usage linger".
// Published through shared/nats/publisher.ts, not js.publish(), which makes a timer and two Errors
// (stack captured) per call (levers row "usagepub").
import type { NatsConnection } from '@nats-io/transport-node';
import { isConnectionClosed } from '../../shared/nats/errors.ts';
import { JetStreamPublisher } from '../../shared/nats/publisher.ts';
import { subjects } from '../../shared/nats/topology.ts';
import { usageHeaders, usageMessages } from '../../shared/nats/usage-message.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';

interface Pending {
  record: UsageRecord;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class UsagePublisher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly publisher: JetStreamPublisher;
  private readonly sending = new Set<Promise<void>>();
  private readonly log: Logger;
  private readonly maxBatch: number;
  private readonly lingerMs: number;

  constructor(nc: NatsConnection, log: Logger, opts: { maxBatch?: number; lingerMs?: number } = {}) {
    this.publisher = new JetStreamPublisher(nc);
    this.log = log;
    this.maxBatch = opts.maxBatch ?? 32;
    this.lingerMs = opts.lingerMs ?? 20;
  }

  /** Resolves once the record is stored in LLM_USAGE. */
  publish(record: UsageRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error('usage publisher closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.queue;
    this.queue = [];
    for (const message of usageMessages(batch, (p) => p.record)) {
      const sent = this.send(message.tenant, message.columns, message.items).catch((err: unknown) =>
        this.log.error({ err, tenant: message.tenant }, 'usage publish failed'),
      );
      this.sending.add(sent);
      void sent.finally(() => this.sending.delete(sent));
    }
  }

  private async send(tenant: string, columns: string, items: Pending[]): Promise<void> {
    const records = items.map((i) => i.record);
    const msgID = `usage:${records[0]!.request_id}:${records.length}:${records[records.length - 1]!.request_id}`;
    const payload = JSON.stringify(records);
    const headers = usageHeaders(columns);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.publisher.publish(subjects.usage(tenant), payload, headers, msgID);
        for (const i of items) i.resolve();
        return;
      } catch (err) {
        // A closed connection never comes back: retrying it only delays the redelivery.
        if (this.closed || attempt >= 5 || isConnectionClosed(err)) {
          for (const i of items) i.reject(err as Error);
          return;
        }
        this.log.warn({ err, attempt }, 'usage publish failed, retrying');
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  /** Stores what is queued and waits for the publishes in flight (no retries from here on). */
  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    await Promise.allSettled(this.sending);
    this.publisher.close();
  }
}
