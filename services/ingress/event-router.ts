// One wildcard subscription per ingress (`llm.evt.<ingressId>.>`), demultiplexed by request id into
// the handler of the HTTP request waiting for it. No subscription or timer is created per request:
// deadlines are enforced by one sweep.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { subjects } from '../../shared/nats/topology.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { errors } from '../../shared/protocol/errors.ts';
import { localAnswers } from '../../shared/runtime/local-answers.ts';
import { IdTable } from '../../shared/runtime/id-table.ts';

export interface PendingRequest {
  onEvent(ev: StreamEvent): void;
  onTimeout(): void;
  deadline: number;
  /** The newest event handed over (attempt, then seq): a replay after a reconnect skips what was seen. */
  lastAttempt?: number;
  lastSeq?: number;
  /**
   * Events a worker in this process handed over before the request's store was acknowledged
   * (shared/runtime/local-execution.ts): handed on once it is (`stored`). Undefined: not waiting.
   */
  unstored?: StreamEvent[];
  /** Live events held while a gap is filled from LLM_EVENTS. */
  held?: StreamEvent[];
  /** The quiet-request check's bookkeeping (the sweep's): an event since the last sweep, quiet since, checks made. */
  heard?: boolean;
  quietSince?: number;
  checks?: number;
  /** The event a quiet check handed over: its live copy, if it still comes, is dropped once. */
  readBack?: { attempt: number; seq: number };
}

/**
 * A request nothing has been heard of for this long has its newest stored event read back: core NATS
 * is at most once, and in a cluster an event can be stored while its live copy is lost with a failing
 * node that this ingress was not connected to (no reconnect here, so no replay). Seen in
 * cluster.test.ts: an answered non-streaming request waited until its client gave up.
 */
export const QUIET_CHECK_MS = 5_000;
/** Later checks of a request still quiet (a long non-streaming generation): one read per this. */
export const QUIET_RECHECK_MS = 15_000;

const isNew = (p: PendingRequest, ev: StreamEvent) =>
  p.lastAttempt === undefined || ev.attempt > p.lastAttempt || (ev.attempt === p.lastAttempt && ev.seq > p.lastSeq!);
const byAttemptThenSeq = (a: StreamEvent, b: StreamEvent) => a.attempt - b.attempt || a.seq - b.seq;
/** Every delivery of a request numbers its events from 1: a higher number means some went missing. */
const skipsAhead = (p: PendingRequest, ev: StreamEvent) => ev.seq > (ev.attempt === p.lastAttempt ? p.lastSeq! + 1 : 1);

export class EventRouter {
  private readonly pending = new IdTable<PendingRequest>();
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  private readonly prefixLength: number;
  private readonly unregisterLocal: () => void;
  /**
   * Reads a request's stored events (reconnect-replay.ts). Set: a gap in a request's seq (a chunk
   * published while its NATS node failed over) is filled from LLM_EVENTS, or, when the chunk was
   * never stored, the stream ends with stream_interrupted instead of silently missing tokens.
   */
  readStored: ((requestId: string) => Promise<StreamEvent[]>) | null = null;
  /** Reads a request's newest stored event, null if none (reconnect-replay.ts): the quiet-request check. */
  readLast: ((requestId: string) => Promise<StreamEvent | null>) | null = null;

  constructor(nc: NatsConnection, ingressId: string) {
    this.prefixLength = subjects.eventsInbox(ingressId).length - 1;
    const dec = new TextDecoder();
    this.sub = nc.subscribe(subjects.eventsInbox(ingressId), {
      callback: (_err, msg) => {
        // '[': a stream's events stored in one batch by a worker in this process, which handed them to
        // this router in memory already (shared/runtime/local-answers.ts), or a stream's owner record
        // (resumable.ts). Only readers of LLM_EVENTS need them.
        if (msg.data[0] === 0x5b) return;
        const requestId = msg.subject.slice(this.prefixLength);
        const entry = this.pending.get(requestId);
        if (!entry) return; // client gone, or a late event of a finished request
        let ev: StreamEvent;
        try {
          ev = JSON.parse(dec.decode(msg.data)) as StreamEvent;
        } catch {
          return;
        }
        this.handle(requestId, entry, ev);
      },
    });
    this.sweep = setInterval(() => this.sweepOnce(Date.now()), 1_000);
    this.sweep.unref();
    this.unregisterLocal = localAnswers.register(ingressId, (requestId, ev) => this.deliverLocal(requestId, ev));
  }

  /** Deadlines, and the quiet-request check; every second (public for tests with their own clock). */
  sweepOnce(now: number): void {
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        p.onTimeout();
        continue;
      }
      if (p.heard || p.quietSince === undefined) {
        p.heard = false;
        p.quietSince = now;
      } else if (this.readLast && !p.held && !p.unstored && now - p.quietSince >= (p.checks ? QUIET_RECHECK_MS : QUIET_CHECK_MS)) {
        p.quietSince = now;
        p.checks = (p.checks ?? 0) + 1;
        void this.checkQuiet(id, p);
      }
    }
  }

  private async checkQuiet(requestId: string, entry: PendingRequest): Promise<void> {
    const last = await this.readLast!(requestId).catch(() => null);
    if (!last || this.pending.get(requestId) !== entry || entry.held || entry.unstored || !isNew(entry, last)) return;
    // Through the live path: an event that skips ahead fills its gap from LLM_EVENTS there.
    this.handle(requestId, entry, last);
    entry.readBack = { attempt: last.attempt, seq: last.seq };
  }

  /** A worker in this process hands over a final event (shared/runtime/local-answers.ts). */
  deliverLocal(requestId: string, ev: StreamEvent): boolean {
    const entry = this.pending.get(requestId);
    if (!entry) return false;
    if (entry.unstored) entry.unstored.push(ev);
    else this.handle(requestId, entry, ev);
    return true;
  }

  /** The request's store was acknowledged: the events handed over meanwhile go on. */
  stored(requestId: string): void {
    const entry = this.pending.get(requestId);
    const waiting = entry?.unstored;
    if (!entry || !waiting) return;
    entry.unstored = undefined;
    for (const ev of waiting) {
      if (this.pending.get(requestId) !== entry) return; // finished by one of them
      this.handle(requestId, entry, ev);
    }
  }

  private handle(requestId: string, entry: PendingRequest, ev: StreamEvent): void {
    entry.heard = true;
    if (entry.readBack) {
      const repeat = ev.attempt === entry.readBack.attempt && ev.seq === entry.readBack.seq;
      entry.readBack = undefined;
      if (repeat) return; // the live copy of what a quiet check already handed over
    }
    if (entry.held) return void entry.held.push(ev);
    // No dedupe on the live path: nats-server 2.9 may number a redelivery as delivery 1 again, so
    // an event that is not newer than the last one can be the start of a new delivery.
    if (skipsAhead(entry, ev) && this.readStored) {
      entry.held = [ev];
      void this.fillGap(requestId, entry);
      return;
    }
    entry.lastAttempt = ev.attempt;
    entry.lastSeq = ev.seq;
    entry.onEvent(ev);
  }

  register(requestId: string, p: PendingRequest): void {
    this.pending.set(requestId, p);
  }

  release(requestId: string): void {
    this.pending.delete(requestId);
  }

  /**
   * After a reconnect: the core subscription missed whatever was published while this ingress was away
   * (e.g. its NATS node died). Every waiting request is handed the stored events it has not seen yet.
   */
  async replayMissed(storedEvents: (requestId: string) => Promise<StreamEvent[]>): Promise<void> {
    for (const [id, entry] of [...this.pending]) {
      // Not stored yet: whatever its run stored for resume may belong to a request that is refused.
      if (entry.unstored) continue;
      const events = await storedEvents(id).catch(() => []);
      if (this.pending.get(id) !== entry) continue; // finished meanwhile
      // The same gap check as the live path: an event published while a NATS node failed over may
      // never have been stored, and replaying what follows it would end the stream short of tokens
      // without saying so (seen in cluster.test.ts: "tok0 tok1 tok2 tok3" then [DONE]).
      this.deliverInOrder(id, entry, [...events].sort(byAttemptThenSeq));
    }
  }

  private async fillGap(requestId: string, entry: PendingRequest): Promise<void> {
    const stored = await this.readStored!(requestId).catch(() => []);
    const held = entry.held ?? [];
    entry.held = undefined;
    this.deliverInOrder(requestId, entry, [...stored, ...held].sort(byAttemptThenSeq));
  }

  /** Hands over the events not seen yet, in order; a gap no event fills ends the request with stream_interrupted. */
  private deliverInOrder(requestId: string, entry: PendingRequest, events: StreamEvent[]): void {
    for (const ev of events) {
      if (this.pending.get(requestId) !== entry) return;
      if (!isNew(entry, ev)) continue;
      if (skipsAhead(entry, ev)) {
        const error = errors.streamInterrupted();
        entry.onEvent({ type: 'error', seq: ev.seq - 1, attempt: ev.attempt, status: error.status, error: error.toBody().error });
        this.pending.delete(requestId);
        return;
      }
      entry.lastAttempt = ev.attempt;
      entry.lastSeq = ev.seq;
      entry.onEvent(ev);
    }
  }

  get size(): number {
    return this.pending.size;
  }

  close(): void {
    this.unregisterLocal();
    clearInterval(this.sweep);
    this.sub.unsubscribe();
  }
}
