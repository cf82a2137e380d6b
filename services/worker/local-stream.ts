// A stream whose ingress is in this process (shared/runtime/local-answers.ts): its events reach the
// client in memory, and LLM_EVENTS gets them in batches so that a resume, a status read or crash
// recovery still finds them. Published one NATS message per upstream read, storing was most of what a
// streamed token cost once tokens arrive a read each, as from a real model (docs/benchmarks.md,
// "localstreams").
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { localAnswers } from '../../shared/runtime/local-answers.ts';
import { StoredBatch } from '../../shared/nats/stored-events.ts';

/** Longest a chunk waits to be stored: how far a resumed reader can lag behind the live client. */
export const STORE_LINGER_MS = 100;
/** A batch is stored once its JSON is this long (a NATS message stays far below max_payload). */
export const STORE_MAX_CHARS = 64 * 1024;

export class LocalStream {
  private readonly ingressId: string;
  private readonly requestId: string;
  private readonly store: (batch: string) => void;
  /** The chunks not stored yet, in order (text runs compacted: shared/nats/stored-events.ts). */
  private readonly waiting = new StoredBatch();
  private timer: NodeJS.Timeout | null = null;
  /** The end-of-turn store of the first batch, until it runs. */
  private firstStore: NodeJS.Immediate | null = null;
  private spoke = false;

  /** `store` publishes a batch (a JSON array of events) on the request's event subject. */
  constructor(ingressId: string, requestId: string, store: (batch: string) => void) {
    this.ingressId = ingressId;
    this.requestId = requestId;
    this.store = store;
  }

  /**
   * A chunk: to the client at the end of this turn, to LLM_EVENTS with its batch. The first batch is
   * stored at the end of the turn the stream first spoke in, with the client's copy: a redelivery
   * after a crash must see that this attempt spoke (it then ends the stream with stream_interrupted,
   * crash-recovery.ts) rather than run again and have a resumed reader splice a second answer onto
   * the first. An answer that ends in that same turn (one upstream read) is stored as one batch.
   */
  chunk(ev: StreamEvent): void {
    // Before the relay: when this is the turn's first relayed event, the store goes first.
    if (!this.spoke) {
      this.spoke = true;
      this.firstStore = setImmediate(this.flush);
    }
    localAnswers.relay(this.ingressId, this.requestId, ev);
    this.waiting.add(ev);
    if (this.waiting.chars >= STORE_MAX_CHARS) this.flush();
    else if (!this.firstStore) this.timer ??= setTimeout(this.flush, STORE_LINGER_MS);
  }

  /**
   * The final event (done or error): relayed, and returned as the last batch, the chunks not stored
   * yet first, for the caller to store the way final events are (acked in a cluster).
   */
  final(ev: StreamEvent): string {
    localAnswers.relay(this.ingressId, this.requestId, ev);
    this.waiting.add(ev);
    return this.take();
  }

  /** Stores the chunks waiting (on the linger timer, or when the batch is full). */
  readonly flush = (): void => {
    if (this.waiting.events > 0) this.store(this.take());
  };

  private take(): string {
    if (this.timer) clearTimeout(this.timer);
    if (this.firstStore) clearImmediate(this.firstStore);
    this.timer = null;
    this.firstStore = null;
    return this.waiting.take();
  }
}
