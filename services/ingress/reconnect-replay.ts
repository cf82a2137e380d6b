// Events travel to the ingress over core NATS: at most once. When the ingress's NATS server dies,
// the client reconnects to another node of the cluster within ~250 ms, but events published in that
// gap are gone from the subscription. They are still in LLM_EVENTS (R3 in a cluster), so after every
// reconnect the event router reads back what each waiting request missed. Costs nothing until a reconnect.
// A request quiet for QUIET_CHECK_MS (event-router.ts) has its newest stored event read back too: an
// event can be lost with a node this ingress was not connected to, which no reconnect announces.
import { DeliverPolicy } from '@nats-io/jetstream';
import type { Nats } from '../../shared/nats/connection.ts';
import { lastStoredEvent } from '../../shared/nats/last-event.ts';
import { decodeStoredEvents } from '../../shared/nats/stored-events.ts';
import { STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import type { EventRouter } from './event-router.ts';

/**
 * Every event of `requestId` stored so far, oldest first; waits at most `waitMs` for the stream.
 * With `ingressId` (the ingress's own requests) it reads the literal subject: a wildcard over every
 * ingress makes nats-server scan the stream's subjects (bench/subject-lookup.ts).
 */
export async function storedEvents(
  nats: Nats,
  requestId: string,
  { waitMs = 1_000, ingressId }: { waitMs?: number; ingressId?: string } = {},
): Promise<StreamEvent[]> {
  const consumer = await nats.js.consumers.get(STREAMS.events, {
    filter_subjects: ingressId ? subjects.events(ingressId, requestId) : subjects.eventsOfRequest(requestId),
    deliver_policy: DeliverPolicy.All,
  });
  const out: StreamEvent[] = [];
  const iter = await consumer.consume({ max_messages: 256 });
  const timer = setTimeout(() => void iter.stop(), waitMs);
  try {
    for await (const m of iter) {
      out.push(...decodeStoredEvents(m.data));
      if (m.info.pending === 0) break;
    }
  } finally {
    clearTimeout(timer);
    void iter.stop();
  }
  return out;
}

/** Replays missed events into `router` after each reconnect; ends when the connection closes. */
export function replayAfterReconnect(nats: Nats, router: EventRouter, ingressId: string, log: Logger): void {
  router.readStored = (id) => readWithRetry(() => storedEvents(nats, id, { ingressId }), 4);
  router.readLast = (id) => lastStoredEvent(nats.jsm, subjects.events(ingressId, id));
  void (async () => {
    for await (const s of nats.nc.status()) {
      if (s.type !== 'reconnect') continue;
      const waiting = router.size;
      if (waiting === 0) continue;
      log.warn({ waiting }, 'NATS reconnected: reading back the events waiting requests may have missed');
      await router
        .replayMissed((id) => readWithRetry(() => storedEvents(nats, id, { ingressId })))
        .catch((err: Error) => log.error({ err: err.message }, 'event replay failed'));
    }
  })();
}

/** LLM_EVENTS may itself be electing a leader right after the reconnect: try for a few seconds. */
async function readWithRetry<T>(read: () => Promise<T>, attempts = 10, pauseMs = 500): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await read();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}
