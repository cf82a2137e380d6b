// Versions before LLM_RESULTS collected batch and async results with durable consumers on
// LLM_EVENTS. At start, what those consumers still hold (a result published before the upgrade
// and not yet stored) is copied into LLM_RESULTS, where today's consumers store it, and then the old
// consumer is removed. A no-op once they are gone; any process may do it, several at once.
// A worker of the earlier version publishes to LLM_EVENTS only: stop those before the first new
// process starts (docs/batch.md, "Exactly once under kill -9").
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { asyncSubjects, requestIdOfResult, resultConsumers, STREAMS } from './topology.ts';
import { isConsumerNotFound } from './errors.ts';
import type { Logger } from '../telemetry/logger.ts';

/** How long one pull waits for a message; an old runner's unacked results come back after its ack wait (30 s). */
const PULL_EXPIRES_MS = 2_000;

/** Resolves with the number of results copied once every old consumer is gone. */
export async function moveLegacyResults(js: JetStreamClient, jsm: JetStreamManager, log: Logger): Promise<number> {
  let total = 0;
  // The old consumers had today's names, on LLM_EVENTS, filtering `llm.evt.<owner>.>`. A result was
  // lost there once it aged out (EVENTS_MAX_AGE_SECONDS) or other tenants' streams filled EVENTS_MAX_BYTES.
  const stream = STREAMS.events;
  for (const { durable, owner } of resultConsumers) {
    let moved = 0;
    for (;;) {
      const info = await jsm.consumers.info(stream, durable).catch((err: unknown) => {
        if (isConsumerNotFound(err)) return null;
        throw err;
      });
      if (!info) break;
      if (info.num_pending + info.num_ack_pending === 0) {
        await jsm.consumers.delete(stream, durable).catch((err: unknown) => {
          if (!isConsumerNotFound(err)) throw err;
        });
        log.info({ stream, consumer: durable, moved }, 'removed the consumer an earlier version collected results with');
        break;
      }
      const consumer = await js.consumers.get(stream, durable);
      const batch = await consumer.fetch({ max_messages: 256, expires: PULL_EXPIRES_MS });
      for await (const m of batch) {
        // The stream sequence names the copy: a process that dies between publish and ack, or a
        // second process moving the same message, stores it once (duplicate window 120 s).
        await js.publish(asyncSubjects.result(owner, requestIdOfResult(m.subject)), m.data, { msgID: `legacy.${stream}.${m.seq}` });
        m.ack();
        moved++;
      }
    }
    total += moved;
  }
  return total;
}
