// Resumable streams. Every event a worker publishes is kept in LLM_EVENTS (memory, EVENTS_MAX_AGE), so
// any ingress can replay a request's events after a given sequence number. This module holds:
// - the owner record (tenant, model, rendering), so only the owning tenant can resume or read a
//   request: the first message on the stream's own subject in LLM_EVENTS, so it lasts as long as the
//   events and costs nats-server no subject of its own (shared/nats/stored-events.ts);
// - the grace period: a client that drops a resumable stream does not cancel the upstream call until
//   STREAM_RESUME_GRACE_MS have passed without anyone resuming it (on any ingress: resuming
//   broadcasts `llm.ctl.resumed.<id>`). One sweep serves all pending cancels, no timer per request;
// - replay: an ordered consumer on the stream's subject, with the same attempt lock the live SSE
//   path applies (only the attempt whose tokens went out may speak; others may only end it).
import { DeliverPolicy, type MsgRequest } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import type { Nats } from '../../shared/nats/connection.ts';
import { publishNotice } from '../../shared/nats/best-effort.ts';
import { asyncSubjects, legacyOwnersStream, REQUEST_OWNERS_BUCKET, STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import type { Dispatcher } from './dispatcher.ts';
import { AttemptLock } from './attempt-lock.ts';
import { ingressOfRequestId } from './request-ids.ts';
import { decodeOwnerRecord, decodeStoredEvents, encodeOwnerRecord } from '../../shared/nats/stored-events.ts';

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

/** A stored stream's owner, and the subject its events are stored on (reads need no wildcard then). */
export interface StoredStream extends StreamOwner {
  subject: string;
}

/** Messages read on a stream's subject looking for its owner record: it is the first one stored, whatever the layout. */
const OWNER_READ_LIMIT = 4;

/** What a request id may be to name a subject token: no wildcard, no separator, not empty. */
const REQUEST_ID_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

export class StreamResume {
  private readonly nats: Nats;
  private readonly dispatcher: Dispatcher;
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly ingressId: string;
  /** LLM_REQUEST_OWNERS, where versions before the owner record moved into LLM_EVENTS kept it; null when gone. */
  private readonly legacyOwners: KV | null;
  /** request id -> when to cancel it, unless resumed first. */
  private readonly pendingCancel = new Map<string, number>();
  private readonly sweep: NodeJS.Timeout;
  private readonly resumedSub: Subscription;

  private constructor(opts: ResumeOptions, legacyOwners: KV | null) {
    this.nats = opts.nats;
    this.dispatcher = opts.dispatcher;
    this.ingressId = opts.dispatcher.ingressId;
    this.log = opts.log;
    this.graceMs = opts.graceMs;
    this.legacyOwners = legacyOwners;
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
    // Streams started before an upgrade have their owner in the old bucket, read while it exists
    // (nothing creates it any more; its records age out with EVENTS_MAX_AGE_SECONDS).
    const legacy = (await legacyOwnersStream(opts.nats.jsm)) ? await new Kvm(opts.nats.js).open(REQUEST_OWNERS_BUCKET) : null;
    return new StreamResume(opts, legacy);
  }

  /** Records the owner before the request is published; not awaited (it lands long before any resume). */
  remember(requestId: string, owner: StreamOwner): void {
    // A plain publish: stored by LLM_EVENTS without the ack round trip a js.publish() costs on every
    // streamed request. Published before the request on this connection, it is stored before any
    // event of it. A lost record only means this stream cannot be resumed (reads say "not found").
    this.nats.nc.publish(subjects.events(this.ingressId, requestId), encodeOwnerRecord(owner));
  }

  /** Who may read `requestId` back, and where its events are; null when unknown or gone. */
  async owner(requestId: string): Promise<StoredStream | null> {
    // The id comes from a URL or a WebSocket message and becomes a subject filter: `*`, `>` or `.`
    // would match other streams' records (ids are `req_<hex>`: server.ts's genReqId, websocket.ts).
    if (!REQUEST_ID_TOKEN.test(requestId)) return null;
    try {
      // The ingress the id names (request-ids.ts), else this one: literal subjects, one index lookup
      // each. Never a wildcard over every ingress: that is a scan of the stream's subjects.
      const named = ingressOfRequestId(requestId);
      return (
        (named ? await this.ownerOn(subjects.events(named, requestId)) : null) ??
        (named !== this.ingressId ? await this.ownerOn(subjects.events(this.ingressId, requestId)) : null) ??
        (await this.legacyOwner(requestId))
      );
    } catch {
      return null;
    }
  }

  private async ownerOn(filter: string): Promise<StoredStream | null> {
    let seq = 0;
    for (let i = 0; i < OWNER_READ_LIMIT; i++) {
      // STREAM.MSG.GET takes next_by_subj (nats-server ≥ 2.9; wildcards too), which the client's type leaves out.
      const query = { next_by_subj: filter, seq } as unknown as MsgRequest;
      const m = await this.nats.jsm.streams.getMessage(STREAMS.events, query);
      if (!m) return null;
      const owner = decodeOwnerRecord(m.data);
      if (owner && typeof owner.tenantId === 'string') return { ...(owner as unknown as StreamOwner), subject: m.subject };
      seq = m.seq + 1;
    }
    return null;
  }

  private async legacyOwner(requestId: string): Promise<StoredStream | null> {
    // Only while the old bucket exists; the stream's subject is then unknown (a wildcard read, as before).
    const e = await this.legacyOwners?.get(requestId);
    return e && e.operation === 'PUT' ? { ...(e.json() as StreamOwner), subject: subjects.eventsOfRequest(requestId) } : null;
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
   * `stream` is what owner() found: its events' subject.
   */
  async replay(
    stream: Pick<StoredStream, 'subject'>,
    afterSeq: number,
    onEvent: (ev: StreamEvent) => boolean,
    opts: { signal?: AbortSignal; maxWaitMs: number },
  ): Promise<void> {
    const oc = await this.nats.js.consumers.get(STREAMS.events, {
      filter_subjects: stream.subject,
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
  async snapshot(stream: StoredStream, waitMs = 300): Promise<StreamEvent[]> {
    const oc = await this.nats.js.consumers.get(STREAMS.events, {
      filter_subjects: stream.subject,
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
