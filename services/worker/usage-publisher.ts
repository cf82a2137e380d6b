// Batches usage records into one JetStream publish per tenant every few milliseconds: one unbatched
// publish per request halves a worker's throughput. The ledger inserts with ON CONFLICT DO NOTHING,
// so a batch published twice (retry after a lost ack) still counts once.
import type { JetStreamClient } from '@nats-io/jetstream';
import { isConnectionClosed } from '../../shared/nats/errors.ts';
import { subjects } from '../../shared/nats/topology.ts';
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
  private readonly js: JetStreamClient;
  private readonly log: Logger;
  private readonly maxBatch: number;
  private readonly lingerMs: number;

  constructor(js: JetStreamClient, log: Logger, opts: { maxBatch?: number; lingerMs?: number } = {}) {
    this.js = js;
    this.log = log;
    this.maxBatch = opts.maxBatch ?? 64;
    this.lingerMs = opts.lingerMs ?? 5;
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
    const byTenant = new Map<string, Pending[]>();
    for (const p of batch) {
      const list = byTenant.get(p.record.tenant_id);
      if (list) list.push(p);
      else byTenant.set(p.record.tenant_id, [p]);
    }
    for (const [tenant, items] of byTenant) {
      this.send(tenant, items).catch((err: unknown) => this.log.error({ err, tenant }, 'usage publish failed'));
    }
  }

  private async send(tenant: string, items: Pending[]): Promise<void> {
    const records = items.map((i) => i.record);
    const msgID = `usage:${records[0]!.request_id}:${records.length}:${records[records.length - 1]!.request_id}`;
    const payload = JSON.stringify(records);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.js.publish(subjects.usage(tenant), payload, { msgID });
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

  async close(): Promise<void> {
    this.flush();
    this.closed = true;
  }
}
