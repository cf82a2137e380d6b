// Shared limiter state in NATS KV, updated with compare-and-set. A KvCell batches every operation
// that arrives while its previous write is in flight into one read-modify-write, so N concurrent
// admissions in one process cost one KV round trip, not N (see docs/guardrails.md).
import { Kvm, type KV } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { isWrongLastSequence } from '../nats/errors.ts';
import { KV_BUCKETS, kvBucketOptions } from '../nats/topology.ts';

export interface LimitBuckets {
  rate: KV;
  budget: KV;
}

// A limiter that waits 10 s for a stuck KV would hold the request that long; fail fast instead.
const KV_TIMEOUT_MS = 2_000;

export async function ensureLimitBuckets(nc: NatsConnection, replicas = 1): Promise<void> {
  const kvm = new Kvm(nc);
  for (const name of Object.values(KV_BUCKETS)) await kvm.create(name, { ...kvBucketOptions[name], replicas });
}

export async function openLimitBuckets(nc: NatsConnection): Promise<LimitBuckets> {
  const kvm = new Kvm(jetstream(nc, { timeout: KV_TIMEOUT_MS }));
  const [rate, budget] = await Promise.all([kvm.open(KV_BUCKETS.rate), kvm.open(KV_BUCKETS.budget)]);
  return { rate, budget };
}

/** One operation on a cell's state. `apply` may run several times (CAS conflicts): it must be pure on `state`. */
export interface CellOp<S> {
  apply(state: S, now: number): void;
  /** The state that contained this op's last `apply` is stored. */
  commit(): void;
  fail(err: Error): void;
}

export interface CellCodec<S> {
  decode(bytes: Uint8Array): S;
  encode(state: S): Uint8Array;
  /** State of a key that does not exist yet (may look elsewhere, e.g. the ledger). */
  initial(): S | Promise<S>;
}

export class KvConflictError extends Error {}

const MAX_BATCH = 512;
const MAX_ATTEMPTS = 25;

export class KvCell<S> {
  readonly key: string;
  private readonly kv: KV;
  private readonly codec: CellCodec<S>;
  private queue: CellOp<S>[] = [];
  private busy = false;
  /** Last known revision and bytes; rev 0 = the key does not exist. Optimistic: a stale copy costs one conflict. */
  private cache: { rev: number; bytes: Uint8Array | null } | null = null;
  lastUsed = Date.now();

  constructor(kv: KV, key: string, codec: CellCodec<S>) {
    this.kv = kv;
    this.key = key;
    this.codec = codec;
  }

  submit(op: CellOp<S>): void {
    this.lastUsed = Date.now();
    this.queue.push(op);
    // drain() settles every op itself; a throw past that would be a bug, failed loudly by the process guard.
    if (!this.busy) void this.drain();
  }

  get idle(): boolean {
    return !this.busy && this.queue.length === 0;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        const ops = this.queue.splice(0, MAX_BATCH);
        try {
          await this.write(ops);
        } catch (err) {
          for (const op of ops) op.fail(err as Error);
          continue;
        }
        for (const op of ops) op.commit();
      }
    } finally {
      this.busy = false;
    }
  }

  private async write(ops: CellOp<S>[]): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!this.cache) {
        const e = await this.kv.get(this.key);
        this.cache = e ? { rev: e.revision, bytes: e.operation === 'PUT' && e.value.length > 0 ? e.value : null } : { rev: 0, bytes: null };
      }
      const state = this.cache.bytes ? this.codec.decode(this.cache.bytes) : await this.codec.initial();
      const now = Date.now();
      for (const op of ops) op.apply(state, now);
      const bytes = this.codec.encode(state);
      try {
        const rev = this.cache.rev === 0 ? await this.kv.create(this.key, bytes) : await this.kv.update(this.key, bytes, this.cache.rev);
        this.cache = { rev, bytes };
        return;
      } catch (err) {
        this.cache = null;
        if (!isWrongLastSequence(err)) throw err;
        // Several processes fighting over one key: spread them out a little.
        if (attempt >= 2) await new Promise((r) => setTimeout(r, Math.random() * 2 * attempt));
      }
    }
    throw new KvConflictError(`too much contention on limiter key ${this.key}`);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function jsonCodec<S>(initial: () => S | Promise<S>): CellCodec<S> {
  return {
    decode: (b) => JSON.parse(dec.decode(b)) as S,
    encode: (s) => enc.encode(JSON.stringify(s)),
    initial,
  };
}

/** A promise-returning wrapper: submit an op and wait for its commit. */
export function runOp<S, R>(cell: KvCell<S>, apply: (state: S, now: number) => R): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let result: R;
    cell.submit({
      apply: (s, now) => {
        result = apply(s, now);
      },
      commit: () => resolve(result),
      fail: reject,
    });
  });
}
