// lastStoredEvent: the newest event on one request's subject, one direct get, no consumer. The worker
// reads it when a request comes back after a crash (what did the earlier delivery send?), the ingress
// when a waiting request has gone quiet (services/ingress/event-router.ts).
import type { JetStreamManager } from '@nats-io/jetstream';
import type { StreamEvent } from '../protocol/events.ts';
import { STREAMS } from './topology.ts';
import { decodeStoredEvents } from './stored-events.ts';

/** Null when nothing is stored on `subject`, or what is stored is not an event (not written by a worker). */
export async function lastStoredEvent(jsm: JetStreamManager, subject: string): Promise<StreamEvent | null> {
  const stored = await jsm.streams.getMessage(STREAMS.events, { last_by_subj: subject });
  if (!stored) return null;
  return decodeStoredEvents(stored.data).at(-1) ?? null;
}
