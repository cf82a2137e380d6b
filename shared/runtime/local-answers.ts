// When the ingress waiting for a non-streaming answer lives in the worker's own process (`npm start`,
// or any one-process layout), the worker hands it the final event in memory instead of publishing it
// to LLM_EVENTS and receiving it back: two process hops through nats-server, a JSON encode and parse,
// and a message kept in the events stream's memory for EVENTS_MAX_AGE are saved on every request
// (docs/benchmarks.md, "localanswers").
//
// Only final events of non-streaming interactive requests take this path. Stream chunks are still
// published (a stream is resumable from any ingress, so its events must be stored), and so are the
// answers of batch and async work (durable consumers read them from LLM_EVENTS). What a non-streaming
// answer loses by not being stored: nothing a client can observe. Its only reader was the same
// process's ingress; a crash between the answer and the request's ack ends that client's connection
// too, and the redelivered request runs again with nobody waiting (the usage ledger still counts the
// request once: rows are keyed by request id).
import type { StreamEvent } from '../protocol/events.ts';

/** Hands `ev` to the request waiting for it; false when nobody here waits (client gone, or another ingress's request). */
export type LocalDelivery = (requestId: string, ev: StreamEvent) => boolean;

const ingresses = new Map<string, LocalDelivery>();

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

  /**
   * The final event of a non-streaming request, handed over in memory when its ingress is here and
   * still waits. Events are not copied: neither side mutates one after it was emitted.
   */
  deliver(ingressId: string, requestId: string, ev: StreamEvent): boolean {
    if (ingresses.size === 0) return false;
    return ingresses.get(ingressId)?.(requestId, ev) ?? false;
  },
};
