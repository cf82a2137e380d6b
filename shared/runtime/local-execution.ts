// Local execution (docs/benchmarks.md, levers row "localexec"): in the one-process layout (`npm
// start`) an interactive request is stored in LLM_REQUESTS as before, but on a subject no worker
// consumer reads (`subjects.held`), and this process's worker runs it as soon as the store is
// acknowledged. nats-server then neither delivers the request back to the process that published it
// nor processes that process's ack: two of the four NATS operations a request cost.
//
// While the worker is nearly idle (under EARLY_RUN_MAX_INFLIGHT requests) the run starts when the
// store is sent, not when it is acknowledged: the upstream call overlaps the JetStream file store's
// write (docs/benchmarks.md, levers row "earlyrun"). Busier, a request waits behind others anyway,
// and runs started as their acks arrive (many per NATS read) cost less CPU. Nothing of an early run
// reaches the client before the store is acknowledged (the ingress's EventRouter holds its events);
// a run whose store is refused is stopped. A held copy carries no message id (ingress/dispatcher.ts),
// so JetStream never answers that its request id was stored already.
//
// The stored copy is the crash net. Held requests are grouped per ingress and second; a second's
// subject is purged when every request in it has ended (one purge per second, not one delete per
// request). If the process dies, its held requests stay, and services/all/rescuer.ts in a live
// process (or in this one after a restart) re-queues those that never recorded usage as redeliveries.
//
// Only services/all enables it (LOCAL_EXECUTION=0 turns it off); split layouts and batch/async work
// go through the worker consumers as always.
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Nats } from '../nats/connection.ts';
import { STREAMS, subjects } from '../nats/topology.ts';
import { localAnswers } from './local-answers.ts';

/** How the store of a held request ended: `stored`, or `refused` (JetStream did not take it: the client gets a 503). */
export type StoreOutcome = 'stored' | 'refused';

/**
 * Below this many requests running in the worker a held request starts before its store is
 * acknowledged. Measured (levers row "earlyrun"): always starting early took 6% more broker CPU per
 * request at max load; with this bound, the same CPU as starting after the ack, and the lower
 * latency at a moderate rate kept.
 */
export const EARLY_RUN_MAX_INFLIGHT = 8;

/** What the in-process worker offers (services/worker/worker.ts). */
export interface LocalExecutor {
  /** Whether the worker takes one more request now: not closing and under WORKER_CONCURRENCY. */
  hasRoom(): boolean;
  /** Requests it runs now, of either priority, not counting those only waiting for their usage record to be stored. */
  inflight(): number;
  /**
   * Runs a held request: `stored` says how its store ends when the run starts before the ack, null
   * when the copy is stored already. `done` is called once the request ended (acked or terminated) or
   * was re-queued on the worker subjects, and the store's outcome is known: then the held copy is no
   * longer needed.
   */
  run(headers: MsgHdrs, body: Uint8Array | string, subject: string, stored: Promise<StoreOutcome> | null, done: () => void): void;
}

/** A place for one request among the held ones; release it when the request no longer needs its copy. */
export interface HeldSlot {
  subject: string;
  release(): void;
}

/**
 * The seconds of one ingress that still hold requests. A second is purged when it is over and its
 * last request ended; a purge that fails is tried again by the next sweep.
 */
export class HeldSeconds {
  private readonly open = new Map<number, number>();
  private readonly toPurge = new Set<number>();
  private current = 0;
  private purging = false;
  private readonly ingressId: string;
  private readonly purge: (subject: string) => Promise<unknown>;
  private readonly now: () => number;

  constructor(ingressId: string, purge: (subject: string) => Promise<unknown>, now: () => number = Date.now) {
    this.ingressId = ingressId;
    this.purge = purge;
    this.now = now;
  }

  claim(): HeldSlot {
    // Never a second that may already have been purged, even if the clock steps back.
    const second = (this.current = Math.max(this.current, Math.floor(this.now() / 1000)));
    this.open.set(second, (this.open.get(second) ?? 0) + 1);
    let released = false;
    return {
      subject: subjects.held(this.ingressId, second),
      release: () => {
        if (released) return;
        released = true;
        const left = this.open.get(second)! - 1;
        if (left > 0) return void this.open.set(second, left);
        this.open.delete(second);
        if (second < this.current || second < Math.floor(this.now() / 1000)) this.schedule(second);
        else this.toPurge.add(second); // still current: purged by a sweep once it is over
      },
    };
  }

  /** Held requests not released yet (for tests). */
  get held(): number {
    let n = 0;
    for (const count of this.open.values()) n += count;
    return n;
  }

  /** Purges every second that is over and empty; `all` also the current one (shutdown). */
  async sweep(all = false): Promise<void> {
    const nowSecond = Math.floor(this.now() / 1000);
    const due = [...this.toPurge].filter((s) => all || s < nowSecond);
    for (const second of due) {
      if (this.open.has(second)) continue; // claimed again after the clock stepped back
      this.toPurge.delete(second);
      try {
        await this.purge(subjects.held(this.ingressId, second));
      } catch {
        this.toPurge.add(second);
      }
    }
  }

  private schedule(second: number): void {
    this.toPurge.add(second);
    if (this.purging) return;
    // One purge at a time; the seconds that ended meanwhile go in the next one's turn.
    this.purging = true;
    void this.sweep().finally(() => (this.purging = false));
  }
}

interface Enabled {
  nats: Nats;
  executor: LocalExecutor;
  seconds: Map<string, HeldSeconds>;
  sweeper: NodeJS.Timeout;
}

let enabled: Enabled | null = null;

export const localExecution = {
  /** services/all: the worker runs this process's interactive requests. Returns the disable function. */
  enable(nats: Nats, executor: LocalExecutor): () => Promise<void> {
    if (process.env.LOCAL_EXECUTION === '0') return async () => {};
    const state: Enabled = {
      nats,
      executor,
      seconds: new Map(),
      sweeper: setInterval(() => {
        for (const s of state.seconds.values()) void s.sweep();
      }, 1_000),
    };
    state.sweeper.unref();
    enabled = state;
    return async () => {
      if (enabled === state) enabled = null;
      clearInterval(state.sweeper);
      // What ended is purged now; what still runs stays held for a rescuer.
      await Promise.all([...state.seconds.values()].map((s) => s.sweep(true)));
    };
  },

  /**
   * A held slot when `ingressId` serves its requests in this process (not batch or async work, not
   * another process's ingress; LOCAL_ANSWERS=0 counts as elsewhere) and the worker has room; null:
   * publish to the worker subjects. The first slot of an ingress also starts answering its liveness
   * checks, before anything is held under its name.
   */
  slot(ingressId: string): HeldSlot | null {
    const state = enabled;
    if (!state || !localAnswers.isHere(ingressId) || !state.executor.hasRoom()) return null;
    let seconds = state.seconds.get(ingressId);
    if (!seconds) {
      const { nc, jsm } = state.nats;
      nc.subscribe(subjects.alive(ingressId), { callback: (_err, msg) => void msg.respond() });
      seconds = new HeldSeconds(ingressId, (filter) => jsm.streams.purge(STREAMS.requests, { filter }));
      state.seconds.set(ingressId, seconds);
    }
    return seconds.claim();
  },

  /**
   * Runs a held request in this process's worker; `stored` says how its store ends for a run started
   * before the ack, null when it is stored already. False when that is not possible any more
   * (disabled in between, at shutdown: the copy stays held and a rescuer runs it).
   */
  run(slot: HeldSlot, headers: MsgHdrs, body: Uint8Array | string, stored: Promise<StoreOutcome> | null): boolean {
    if (!enabled) return false;
    enabled.executor.run(headers, body, slot.subject, stored, () => slot.release());
    return true;
  },

  /** Whether a held request starts before its store is acknowledged: the worker is nearly idle. */
  startsEarly(): boolean {
    return enabled !== null && enabled.executor.inflight() < EARLY_RUN_MAX_INFLIGHT;
  },

  /** The ingress ids this process holds requests for (the rescuer leaves them alone). */
  isOwn(ingressId: string): boolean {
    return enabled?.seconds.has(ingressId) ?? false;
  },
};
