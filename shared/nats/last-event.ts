// Reading events back from LLM_EVENTS. A message holds one event, or an array of a stream's events in
// order: a stream whose ingress is in the worker's own process gets its events in memory and they are
// stored in batches (shared/runtime/local-answers.ts). Every reader decodes through here.
//
// lastStoredEvent: the newest event on one request's subject, one direct get, no consumer. The worker
// reads it when a request comes back after a crash (what did the earlier delivery send?), the ingress
// when a waiting request has gone quiet (services/ingress/event-router.ts).
import type { JetStreamManager } from '@nats-io/jetstream';
import type { StreamEvent } from '../protocol/events.ts';
import { STREAMS } from './topology.ts';

const dec = new TextDecoder();
const isEvent = (v: unknown): v is StreamEvent => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The events of one stored message, oldest first; none when it is not JSON or holds no event object. */
export function decodeStoredEvents(data: Uint8Array): StreamEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(dec.decode(data));
  } catch {
    return [];
  }
  if (Array.isArray(parsed)) return parsed.filter(isEvent);
  return isEvent(parsed) ? [parsed] : [];
}

/** Null when nothing is stored on `subject`, or what is stored is not an event (not written by a worker). */
export async function lastStoredEvent(jsm: JetStreamManager, subject: string): Promise<StreamEvent | null> {
  const stored = await jsm.streams.getMessage(STREAMS.events, { last_by_subj: subject });
  if (!stored) return null;
  return decodeStoredEvents(stored.data).at(-1) ?? null;
}
