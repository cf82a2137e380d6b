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
//
// With a UsageStore (npm start's one process, whose ledger shares the worker's database) a batch is
// inserted into the database directly, one statement per field set, instead of travelling through
// LLM_USAGE to the ledger in the same process: no publish, ack, delivery and ack per batch. The batch
// keeps the 20 ms linger and takes up to 64 records: the ledger's 50 ms / 256 made each statement
// cheaper for Postgres, but kept 300 finished requests alive at max load, +11% broker CPU and +60 MB;
// 64 instead of 32 saved Postgres 3 µs per request with no such cost (docs/benchmarks.md, levers rows
// "usagedirect" and "usagedirect64"), and the statement is prepared. A batch the store refuses or has not
// committed within `storeDeadlineMs` goes to LLM_USAGE as before (the ledger skips rows already in),
// and the store is left alone for `storeRetryMs`. At most MAX_STORES_IN_FLIGHT inserts run at once (a
// statement takes about a millisecond, a batch comes every few): a database that stops answering then
// holds two of the pool's connections until the query timeout, not one per 20 ms batch.
import type { NatsConnection } from '@nats-io/transport-node';
import { isConnectionClosed } from '../../shared/nats/errors.ts';
import { JetStreamPublisher } from '../../shared/nats/publisher.ts';
import { subjects } from '../../shared/nats/topology.ts';
import { byFieldSet, usageHeaders, usageMessages } from '../../shared/nats/usage-message.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { IdTable } from '../../shared/runtime/id-table.ts';

/** Writes usage records to the database itself (the ledger of this process: services/ledger/ledger.ts). */
export interface UsageStore {
  /** Inserts `recordsJson`, a JSON array of `records` that all carry `columns`; resolves once committed. */
  store(columns: string[], recordsJson: string, records: readonly UsageRecord[]): Promise<void>;
}

export interface UsagePublisherOptions {
  /** Records that go out at once (default 32; 64 with a store). */
  maxBatch?: number;
  /** How long the first record of a batch waits for more (default 20 ms). */
  lingerMs?: number;
  store?: UsageStore;
  /** How long a direct insert may take before its batch goes to LLM_USAGE as well (default 2 s). */
  storeDeadlineMs?: number;
  /** After a direct insert failed or was late, batches go to LLM_USAGE for this long (default 5 s). */
  storeRetryMs?: number;
}

/** Direct inserts at once; a batch that finds them all busy goes through LLM_USAGE. */
export const MAX_STORES_IN_FLIGHT = 2;

interface Pending {
  record: UsageRecord;
  resolve: () => void;
  reject: (err: Error) => void;
  settled: boolean;
}

export class UsagePublisher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly publisher: JetStreamPublisher;
  private readonly sending = new IdTable<Promise<void>>();
  private sent = 0;
  private readonly log: Logger;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly store: UsageStore | null;
  private readonly storeDeadlineMs: number;
  private readonly storeRetryMs: number;
  /** Until then batches skip the store (it failed or was late). */
  private storeOffUntil = 0;
  private unsettled = 0;
  private storesInFlight = 0;

  constructor(nc: NatsConnection, log: Logger, opts: UsagePublisherOptions = {}) {
    this.publisher = new JetStreamPublisher(nc);
    this.log = log;
    this.store = opts.store ?? null;
    this.maxBatch = opts.maxBatch ?? (this.store ? 64 : 32);
    this.lingerMs = opts.lingerMs ?? 20;
    this.storeDeadlineMs = opts.storeDeadlineMs ?? 2_000;
    this.storeRetryMs = opts.storeRetryMs ?? 5_000;
  }

  /** Records published and not yet stored (or failed): their requests only wait for this now. */
  get pending(): number {
    return this.unsettled;
  }

  /** Resolves once the record is stored: in the database (with a store) or in LLM_USAGE. */
  publish(record: UsageRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error('usage publisher closed'));
    return new Promise((resolve, reject) => {
      this.unsettled++;
      this.queue.push({ record, resolve, reject, settled: false });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  /** Settles a record once: a batch that went both ways resolves with the first path that stored it. */
  private settle(item: Pending, err?: Error): void {
    if (item.settled) return;
    item.settled = true;
    this.unsettled--;
    if (err) item.reject(err);
    else item.resolve();
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    if (this.store && this.storesInFlight < MAX_STORES_IN_FLIGHT && Date.now() >= this.storeOffUntil) {
      for (const { keys, items } of byFieldSet(batch, (p) => p.record)) this.track(this.storeDirect(this.store, keys, items));
    } else this.publishAll(batch);
  }

  private track(sending: Promise<void>): void {
    const id = ++this.sent;
    this.sending.set(id, sending);
    void sending.finally(() => this.sending.delete(id));
  }

  /** `failed` decides what a failed publish means for a record (by default: it failed). */
  private publishAll(items: Pending[], failed = (item: Pending, err: Error) => this.settle(item, err)): void {
    for (const message of usageMessages(items, (p) => p.record)) {
      this.track(
        this.send(message.tenant, message.columns, message.items, failed).catch((err: unknown) =>
          this.log.error({ err, tenant: message.tenant }, 'usage publish failed'),
        ),
      );
    }
  }

  /**
   * One field set's records into the database. If the insert fails or is late, the records go to
   * LLM_USAGE too; each resolves when either has them (a late insert that commits after all is
   * skipped by the ledger, as a redelivered record is), and fails only if both did.
   */
  private async storeDirect(store: UsageStore, keys: string[], items: Pending[]): Promise<void> {
    const records = items.map((i) => i.record);
    let insertFailed: Error | null = null;
    let publishFailed: Map<Pending, Error> | null = null;
    const fallBack = (err: unknown) => {
      if (publishFailed) return;
      publishFailed = new Map();
      if (Date.now() >= this.storeOffUntil)
        this.log.warn(
          { err: (err as Error)?.message ?? err, records: items.length },
          'usage insert failed or late; sending usage through LLM_USAGE for a while',
        );
      this.storeOffUntil = Date.now() + this.storeRetryMs;
      this.publishAll(items, (item, publishErr) => {
        // Both paths failed only once the insert has too; until then the insert may still commit.
        if (insertFailed) this.settle(item, publishErr);
        else publishFailed!.set(item, publishErr);
      });
    };
    const late = setTimeout(() => fallBack(new Error(`not committed within ${this.storeDeadlineMs} ms`)), this.storeDeadlineMs);
    this.storesInFlight++;
    try {
      await store.store(keys, JSON.stringify(records), records);
      for (const i of items) this.settle(i);
    } catch (err) {
      insertFailed = err as Error;
      fallBack(err);
      for (const [item, publishErr] of publishFailed! as Map<Pending, Error>) this.settle(item, publishErr);
    } finally {
      this.storesInFlight--;
      clearTimeout(late);
    }
  }

  private async send(tenant: string, columns: string, items: Pending[], failed: (item: Pending, err: Error) => void): Promise<void> {
    const records = items.map((i) => i.record);
    const msgID = `usage:${records[0]!.request_id}:${records.length}:${records[records.length - 1]!.request_id}`;
    const payload = JSON.stringify(records);
    const headers = usageHeaders(columns);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.publisher.publish(subjects.usage(tenant), payload, headers, msgID);
        for (const i of items) this.settle(i);
        return;
      } catch (err) {
        // A closed connection never comes back: retrying it only delays the redelivery.
        if (this.closed || attempt >= 5 || isConnectionClosed(err)) {
          for (const i of items) failed(i, err as Error);
          return;
        }
        this.log.warn({ err, attempt }, 'usage publish failed, retrying');
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  /** Stores what is queued and waits for the stores in flight (no retries from here on). */
  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    // A late or failed insert adds its LLM_USAGE publish while we wait.
    while (this.sending.size > 0) await Promise.allSettled([...this.sending.values()]);
    this.publisher.close();
  }
}
