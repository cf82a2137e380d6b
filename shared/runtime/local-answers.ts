// When the ingress waiting for an answer lives in the worker's own process (`npm start`, or any
// one-process layout), the worker hands it the events in memory instead of publishing them to
// LLM_EVENTS and receiving them back through nats-server (docs/benchmarks.md, "localanswers",
// "localstreams").
//
// - The final event of a non-streaming interactive request (`deliver`) is not stored at all: its only
//   reader is this process's ingress. A crash between the answer and the request's ack ends that
//   client's connection too, and the redelivered request runs again with nobody waiting (the usage
//   ledger still counts the request once: rows are keyed by request id).
// - A stream's events (`relay`) reach the ingress in memory, in order, at the end of the event-loop
//   turn they were emitted in (so what one upstream read produced goes out in one socket write), and
//   are still stored, because a stream is resumable from any ingress: the worker stores them in
//   batches (services/worker/local-stream.ts) instead of one NATS message per upstream read.
// - Batch and async work is never handed over (durable consumers read it from LLM_EVENTS).
import type { StreamEvent } from '../protocol/events.ts';

/** Hands `ev` to the request waiting for it; false when nobody here waits (client gone, or another ingress's request). */
export type LocalDelivery = (requestId: string, ev: StreamEvent) => boolean;

const ingresses = new Map<string, LocalDelivery>();

/** Stream events waiting for the end of this turn, in emit order. */
let relayed: Array<{ ingressId: string; requestId: string; ev: StreamEvent }> = [];
const relayNow = () => {
  const batch = relayed;
  relayed = [];
  for (const { ingressId, requestId, ev } of batch) {
    try {
      localAnswers.deliver(ingressId, requestId, ev);
    } catch (err) {
      // A bug in one request's handler must not take the other streams' events (or the process) with it.
      process.emitWarning(err as Error);
    }
  }
};

export const localAnswers = {
  /** An ingress that serves requests in this process; returns the unregister function. */
  register(ingressId: string, deliver: LocalDelivery): () => void {
    // LOCAL_ANSWERS=0: every answer makes the NATS round trip (tests of that path in one process).
    if (process.env.LOCAL_ANSWERS === '0') return () => {};
    ingresses.set(ingressId, deliver);
    return () => {
      if (ingresses.get(ingressId) === deliver) ingresses.delete(ingressId);
    };
  },

  /** Whether `ingressId` serves its requests in this process. */
  isHere(ingressId: string): boolean {
    return ingresses.has(ingressId);
  },

  /**
   * The final event of a non-streaming request, handed over in memory when its ingress is here and
   * still waits. Events are not copied: neither side mutates one after it was emitted.
   */
  deliver(ingressId: string, requestId: string, ev: StreamEvent): boolean {
    if (ingresses.size === 0) return false;
    return ingresses.get(ingressId)?.(requestId, ev) ?? false;
  },

  /**
   * A stream's event for an ingress here: delivered at the end of this turn, after the events relayed
   * before it. Dropped if nobody waits by then (the client went away; the stored copy serves a resume).
   */
  relay(ingressId: string, requestId: string, ev: StreamEvent): void {
    if (relayed.length === 0) setImmediate(relayNow);
    relayed.push({ ingressId, requestId, ev });
  },
};
