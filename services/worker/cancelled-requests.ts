// Which requests were cancelled, as far as this worker process knows. A cancel often arrives before
// any worker has pulled the request (a WebSocket create+cancel pair, a client that hangs up at once):
// the worker must then skip the request instead of running and billing it. Every worker hears every
// `llm.cancel.<id>` on one wildcard subscription; the LLM_CANCELS stream keeps them too, so a worker
// that starts later backfills what it missed. The check before a request runs is one Map lookup.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';

const PREFIX_LENGTH = subjects.cancelAll.length - 1;

export class CancelledRequests {
  /** request id -> when the cancel was heard; insertion order is age order. */
  private readonly seen = new Map<string, number>();
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  private readonly maxEntries: number;

  /** `onCancel` is told about every cancel as it arrives (to abort a running request). */
  constructor(
    nc: NatsConnection,
    onCancel: (requestId: string) => void,
    opts: { retainMs: number; maxEntries?: number } = { retainMs: 900_000 },
  ) {
    this.maxEntries = opts.maxEntries ?? 1_000_000;
    this.sub = nc.subscribe(subjects.cancelAll, {
      callback: (_err, m) => {
        const id = m.subject.slice(PREFIX_LENGTH);
        this.add(id);
        onCancel(id);
      },
    });
    this.sweep = setInterval(() => {
      const oldest = Date.now() - opts.retainMs;
      for (const [id, at] of this.seen) {
        if (at > oldest) break;
        this.seen.delete(id);
      }
    }, 10_000);
    this.sweep.unref();
  }

  has(requestId: string): boolean {
    return this.seen.has(requestId);
  }

  /**
   * Reads the cancels stored in LLM_CANCELS (those published before this process subscribed).
   * Bounded in time: a slow backfill must not keep the worker from starting.
   */
  async backfill(js: JetStreamClient, jsm: JetStreamManager, log: Logger, timeoutMs = 5_000): Promise<void> {
    try {
      const info = await jsm.streams.info(STREAMS.cancels);
      if (info.state.messages === 0) return;
      const consumer = await js.consumers.get(STREAMS.cancels);
      const messages = await consumer.consume();
      const timer = setTimeout(() => void messages.close(), timeoutMs);
      for await (const m of messages) {
        this.add(m.subject.slice(PREFIX_LENGTH));
        if (m.info.pending === 0) break;
      }
      clearTimeout(timer);
      await messages.close();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cancel backfill failed; only cancels heard from now on are honoured');
    }
  }

  private add(id: string): void {
    if (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.set(id, Date.now());
  }

  close(): void {
    clearInterval(this.sweep);
    this.sub.unsubscribe();
  }
}
