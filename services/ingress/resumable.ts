// Resumable streams. Every event a worker publishes is kept in LLM_EVENTS (memory, EVENTS_MAX_AGE), so
// any ingress can replay a request's events after a given sequence number. This module holds:
// - the owner record (request id -> tenant, a memory KV bucket with the events' max age), so only the
//   owning tenant can resume or read a request;
// - the grace period: a client that drops a resumable stream does not cancel the upstream call until
//   STREAM_RESUME_GRACE_MS have passed without anyone resuming it (on any ingress: resuming
//   broadcasts `llm.ctl.resumed.<id>`). One sweep serves all pending cancels, no timer per request;
// - replay: an ordered consumer on `llm.evt.*.<requestId>`, with the same attempt lock the live SSE
//   path applies (only the attempt whose tokens went out may speak; others may only end it).
import { DeliverPolicy } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import type { Nats } from '../../shared/nats/connection.ts';
import { publishNotice } from '../../shared/nats/best-effort.ts';
import { asyncSubjects, REQUEST_OWNERS_BUCKET, STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import type { Dispatcher } from './dispatcher.ts';
import { AttemptLock } from './attempt-lock.ts';
import { decodeStoredEvents } from '../../shared/nats/stored-events.ts';

export interface ResumeOptions {
  nats: Nats;
  dispatcher: Dispatcher;
  log: Logger;
  graceMs: number;
}

/** What a resumed stream needs to continue byte-identically, and who may read it. */
export interface StreamOwner {
  tenantId: string;
  model: string;
  /** `created` of the stream's chunks (unix seconds). */
  created: number;
  includeUsage: boolean;
  /** `anthropic`: a POST /v1/messages stream, replayed as Messages SSE (messages-render.ts). */
  wire?: 'anthropic';
}

export class StreamResume {
  private readonly nats: Nats;
  private readonly dispatcher: Dispatcher;
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly kv: KV;
  /** request id -> when to cancel it, unless resumed first. */
  private readonly pendingCancel = new Map<string, number>();
  private readonly sweep: NodeJS.Timeout;
  private readonly resumedSub: Subscription;

  private constructor(opts: ResumeOptions, kv: KV) {
    this.nats = opts.nats;
    this.dispatcher = opts.dispatcher;
    this.log = opts.log;
    this.graceMs = opts.graceMs;
    this.kv = kv;
    const prefix = asyncSubjects.resumedAll.length - 1;
    this.resumedSub = opts.nats.nc.subscribe(asyncSubjects.resumedAll, {
      callback: (_err, m) => void this.pendingCancel.delete(m.subject.slice(prefix)),
    });
    this.sweep = setInterval(
      () => {
        const now = Date.now();
        for (const [id, at] of this.pendingCancel) {
          if (at <= now) {
            this.pendingCancel.delete(id);
            publishNotice(this.nats.nc, subjects.cancel(id));
          }
        }
      },
      Math.max(50, Math.min(1_000, this.graceMs / 4)),
    );
    this.sweep.unref();
  }

  static async create(opts: ResumeOptions): Promise<StreamResume> {
    // boot() created the bucket (shared/runtime/boot.ts) and puts it back after a nats-server restart.
    const kv = await new Kvm(opts.nats.js).open(REQUEST_OWNERS_BUCKET);
    return new StreamResume(opts, kv);
  }

  /** Records the owner; not awaited on the hot path (the record lands long before any resume). */
  remember(requestId: string, owner: StreamOwner): void {
    // A plain publish onto the bucket's subject: JetStream stores it like kv.put(), without the
    // per-call ack round trip, timer and Error object that kv.put() costs on every streamed request.
    // A lost record only means this stream cannot be resumed (reads fall back to "not found").
    this.nats.nc.publish(`$KV.${REQUEST_OWNERS_BUCKET}.${requestId}`, JSON.stringify(owner));
  }

  async owner(requestId: string): Promise<StreamOwner | null> {
    try {
      const e = await this.kv.get(requestId);
      return e && e.operation === 'PUT' ? (e.json() as StreamOwner) : null;
    } catch {
      return null;
    }
  }

  /** The client of a running stream went away: stop listening, cancel after the grace period. */
  detach(requestId: string): void {
    this.dispatcher.release(requestId);
    if (this.graceMs === 0) publishNotice(this.nats.nc, subjects.cancel(requestId));
    else this.pendingCancel.set(requestId, Date.now() + this.graceMs);
  }

  /** Someone reads this request again: no ingress may cancel it for the earlier disconnect. */
  attached(requestId: string): void {
    this.pendingCancel.delete(requestId);
    publishNotice(this.nats.nc, asyncSubjects.resumed(requestId));
  }

  /**
   * Replays the request's chunks with seq > afterSeq and its terminal event whatever its seq (events
   * of the speaking attempt, attempt-lock.ts: another attempt's end becomes stream_interrupted), then follows live ones. `onEvent` returns true when the
   * reader is finished. Resolves when finished, when `signal` aborts, or after `maxWaitMs`.
   */
  async replay(
    requestId: string,
    afterSeq: number,
    onEvent: (ev: StreamEvent) => boolean,
    opts: { signal?: AbortSignal; maxWaitMs: number },
  ): Promise<void> {
    const oc = await this.nats.js.consumers.get(STREAMS.events, {
      filter_subjects: subjects.eventsOfRequest(requestId),
      deliver_policy: DeliverPolicy.All,
    });
    const iter = await oc.consume({ max_messages: 256 });
    const stop = () => void iter.stop();
    const timer = setTimeout(stop, opts.maxWaitMs);
    opts.signal?.addEventListener('abort', stop, { once: true });
    if (opts.signal?.aborted) stop();
    const attempts = new AttemptLock();
    try {
      read: for await (const m of iter) {
        for (const stored of decodeStoredEvents(m.data)) {
          const ev = attempts.admit(stored);
          if (!ev) continue;
          // A terminal event is passed even when the reader saw it: resuming after the last event
          // must end at once, not wait for events that will never come.
          if (ev.type === 'chunk' && ev.seq <= afterSeq) continue;
          if (onEvent(ev)) break read;
        }
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', stop);
      stop();
    }
  }

  /** The events stored so far, without waiting for more (status reads). */
  async snapshot(requestId: string, waitMs = 300): Promise<StreamEvent[]> {
    const oc = await this.nats.js.consumers.get(STREAMS.events, {
      filter_subjects: subjects.eventsOfRequest(requestId),
      deliver_policy: DeliverPolicy.All,
    });
    const out: StreamEvent[] = [];
    const iter = await oc.consume({ max_messages: 256 });
    const timer = setTimeout(() => void iter.stop(), waitMs);
    const attempts = new AttemptLock();
    try {
      read: for await (const m of iter) {
        for (const stored of decodeStoredEvents(m.data)) {
          const ev = attempts.admit(stored);
          if (ev) out.push(ev);
          if (ev && ev.type !== 'chunk') break read;
        }
        if (m.info.pending === 0) break;
      }
    } finally {
      clearTimeout(timer);
      void iter.stop();
    }
    return out;
  }

  close(): void {
    clearInterval(this.sweep);
    this.resumedSub.unsubscribe();
  }
}
