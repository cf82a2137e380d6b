// The response cache's KV bucket. Every failure (bucket missing or deleted, NATS slow or away) is an
// error the caller treats as a miss: the cache can never fail a request. Errors are logged once per
// outage, and a bucket that cannot be used is reopened (created if it is gone) at most every few seconds.
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { RESPONSE_CACHE_BUCKET, responseCacheBucketOptions } from '../../../shared/nats/topology.ts';
import type { Logger } from '../../../shared/telemetry/logger.ts';

export interface CacheStoreOptions {
  maxTtlSeconds: number;
  timeoutMs: number;
  log: Logger;
}

/** How long a broken bucket is left alone before the next open attempt. */
export const REOPEN_AFTER_MS = 5_000;

export class ResponseCacheStore {
  private readonly nc: NatsConnection;
  private readonly opts: CacheStoreOptions;
  private kv: Promise<KV> | null = null;
  private brokenUntil = 0;
  private failing = false;

  constructor(nc: NatsConnection, opts: CacheStoreOptions) {
    this.nc = nc;
    this.opts = opts;
  }

  /** The stored bytes, null when absent; throws on any KV failure. */
  async get(key: string): Promise<Uint8Array | null> {
    return this.run(async (kv) => {
      const e = await kv.get(key);
      return e && e.operation === 'PUT' && e.value.length > 0 ? e.value : null;
    });
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.run((kv) => kv.put(key, value));
  }

  /** Logs the first failure of an outage; the caller answers as for a miss. */
  noteFailure(err: unknown, op: 'get' | 'put'): void {
    this.kv = null;
    // Failures inside the window (requests skipping the bucket) must not push the next reopen further out.
    const now = Date.now();
    if (now >= this.brokenUntil) this.brokenUntil = now + REOPEN_AFTER_MS;
    if (this.failing) return;
    this.failing = true;
    this.opts.log.warn({ err: (err as Error).message, op }, 'response cache unavailable; requests are served as misses');
  }

  private async run<T>(op: (kv: KV) => Promise<T>): Promise<T> {
    if (!this.kv) {
      if (Date.now() < this.brokenUntil) throw new Error('response cache bucket unavailable');
      this.kv = this.open();
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        this.kv.then(op),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`response cache timed out after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
        }),
      ]);
      if (this.failing) {
        this.failing = false;
        this.opts.log.info('response cache reachable again');
      }
      return result;
    } finally {
      clearTimeout(timer);
    }
  }

  private async open(): Promise<KV> {
    const kvm = new Kvm(jetstream(this.nc, { timeout: this.opts.timeoutMs }));
    // create() binds to an existing bucket; a bucket made with another max age is opened as it is.
    return kvm
      .create(RESPONSE_CACHE_BUCKET, responseCacheBucketOptions(this.opts.maxTtlSeconds))
      .catch(() => kvm.open(RESPONSE_CACHE_BUCKET));
  }
}
