// The crash net of local execution (shared/runtime/local-execution.ts). A one-process instance holds
// the requests it runs itself on `llm.req._held.<ingress>.<second>` until they end. If it dies, nothing
// would ever deliver them, so every one-process instance looks, every few seconds, for held requests
// whose ingress no longer answers its liveness subject, and after it has stayed silent for the ack
// wait (the time after which a worker consumer would redeliver a request) takes them over:
//  1. waits until the ledger has stored every usage record published so far (the dead process's
//     last records included), because a request that recorded usage has ended;
//  2. re-queues each held request that has no usage row on its provider's worker subject, as a
//     redelivery (services/worker/local-delivery.ts), and acks the held copy, which deletes it.
// A request is run again only in the window a redelivery reruns it after a crash today: after the
// upstream answered, before its usage record was published. Usage stays exactly once (rows are keyed by
// request id).
import type { JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Nats } from '../../shared/nats/connection.ts';
import type { Db } from '../../shared/db/database.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { consumerNames, rescueConsumerConfig, STREAMS, subjects } from '../../shared/nats/topology.ts';
import { isConsumerNotFound, isNoResponders } from '../../shared/nats/errors.ts';
import { decodeRequestEnvelope } from '../../shared/nats/request-envelope.ts';
import { localExecution } from '../../shared/runtime/local-execution.ts';
import { priorDeliveries, requeueRequest } from '../worker/local-delivery.ts';

export interface RescuerOptions {
  nats: Nats;
  db: Db;
  log: Logger;
  /** The worker consumers' ack wait (WORKER_ACK_WAIT_SECONDS): how long an ingress must stay silent. */
  ackWaitSeconds: number;
}

/**
 * Decides when a silent ingress is dead. `graceMs` is the worker consumers' ack wait: a consumer
 * redelivers a request that long after it delivered it, so a held request is taken over no sooner
 * than that after it was stored, or after its ingress fell silent. The ingress must also have been
 * silent (no responders) in every check for half of it, longer than a reconnect to NATS takes (after a
 * nats-server restart every process reconnects, some later than others). A check that answers, or the
 * ingress holding nothing any more, starts it over; a check that times out says nothing either way.
 */
export class SilenceTracker {
  private readonly silentSince = new Map<string, number>();
  private readonly graceMs: number;

  constructor(graceMs: number) {
    this.graceMs = graceMs;
  }

  /** `newestHeldMs`: when the ingress's newest held request was stored (its held second). */
  observe(ingressId: string, answer: 'alive' | 'silent' | 'unknown', now: number, newestHeldMs = now): boolean {
    if (answer === 'alive') {
      this.silentSince.delete(ingressId);
      return false;
    }
    const since = this.silentSince.get(ingressId);
    if (since === undefined) {
      if (answer === 'silent') this.silentSince.set(ingressId, now);
      return false;
    }
    if (answer !== 'silent') return false;
    const silentFor = now - since;
    return silentFor >= this.graceMs / 2 && (silentFor >= this.graceMs || now - newestHeldMs >= this.graceMs);
  }

  /** Forgets ingresses not in `holding` (rescued, or they ended their requests themselves). */
  retain(holding: Set<string>): void {
    for (const id of this.silentSince.keys()) if (!holding.has(id)) this.silentSince.delete(id);
  }
}

export interface Rescuer {
  /** One pass (tests; the timer runs the same). */
  check(): Promise<void>;
  close(): Promise<void>;
}

export function startRescuer(opts: RescuerOptions): Rescuer {
  const { nats, db, log } = opts;
  const { nc, js, jsm } = nats;
  const graceMs = opts.ackWaitSeconds * 1000;
  // One stream info per check: cheap, and checks this often keep a takeover close to the grace.
  const everyMs = Math.min(1_000, Math.max(250, graceMs / 8));
  const silence = new SilenceTracker(graceMs);
  let closed = false;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;

  async function check(): Promise<void> {
    const info = await jsm.streams.info(STREAMS.requests, { subjects_filter: subjects.heldAll });
    // ingress id -> its newest held second (`llm.req._held.<ingressId>.<second>`) and how many it holds
    const holding = new Map<string, { newestSecond: number; count: number }>();
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      const [, , , ingressId, second] = subject.split('.');
      if (!ingressId) continue;
      const seen = holding.get(ingressId) ?? { newestSecond: 0, count: 0 };
      holding.set(ingressId, { newestSecond: Math.max(seen.newestSecond, Number(second) || 0), count: seen.count + count });
    }
    silence.retain(new Set(holding.keys()));
    for (const [ingressId, { newestSecond, count }] of holding) {
      if (closed) return;
      if (localExecution.isOwn(ingressId)) continue;
      if (!silence.observe(ingressId, await ask(ingressId), Date.now(), newestSecond * 1000)) continue;
      await rescue(ingressId, count);
      holding.delete(ingressId);
      silence.retain(new Set(holding.keys()));
    }
  }

  async function ask(ingressId: string): Promise<'alive' | 'silent' | 'unknown'> {
    try {
      await nc.request(subjects.alive(ingressId), undefined, { timeout: 2_000 });
      return 'alive';
    } catch (err) {
      return isNoResponders(err) ? 'silent' : 'unknown';
    }
  }

  /** Takes over the `count` requests `ingressId` held (more may come back from an earlier rescuer's pulls). */
  async function rescue(ingressId: string, count: number): Promise<void> {
    const caughtUp = await ledgerCaughtUp(jsm, graceMs * 2 + 30_000, () => closed);
    if (closed) return;
    if (!caughtUp) log.warn({ ingressId }, 'ledger still behind: taking over anyway (usage stays keyed by request id)');
    const config = rescueConsumerConfig(ingressId, opts.ackWaitSeconds);
    await jsm.consumers.add(STREAMS.requests, config);
    const consumer = await js.consumers.get(STREAMS.requests, config.name);
    let requeued = 0;
    let ended = 0;
    while (!closed && requeued + ended < count) {
      const batch: JsMsg[] = [];
      // As many as are left: the fetch then ends on the last one instead of waiting out its expiry.
      const want = Math.min(256, count - requeued - ended);
      for await (const msg of await consumer.fetch({ max_messages: want, expires: 1_000 })) batch.push(msg);
      if (batch.length === 0) break;
      const done = await requestsWithUsage(
        db,
        batch.map((m) => decodeRequestEnvelope(m.headers as MsgHdrs)?.requestId).filter((id): id is string => !!id),
      );
      for (const msg of batch) {
        const headers = msg.headers as MsgHdrs;
        const requestId = decodeRequestEnvelope(headers)?.requestId;
        if (requestId && !done.has(requestId)) {
          // The held copy had one delivery: the dead process's own run.
          await requeueRequest(js, headers, msg.data, priorDeliveries(headers) + 1);
          requeued++;
        } else ended++;
        await msg.ackAck();
      }
    }
    await jsm.consumers.delete(STREAMS.requests, config.name).catch((err: unknown) => {
      if (!isConsumerNotFound(err)) throw err;
    });
    log.warn({ ingressId, requeued, ended }, 'took over the held requests of an ingress that stopped answering');
  }

  const loop = () => {
    timer = setTimeout(() => {
      running = check()
        .catch((err: unknown) => log.error({ err }, 'held request check failed'))
        .finally(() => {
          running = null;
          if (!closed) loop();
        });
    }, everyMs);
    timer.unref();
  };
  loop();

  return {
    check,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** Waits until the ledger consumer acked everything LLM_USAGE held when called; false after `timeoutMs` or on close. */
async function ledgerCaughtUp(jsm: JetStreamManager, timeoutMs: number, closed: () => boolean): Promise<boolean> {
  const last = (await jsm.streams.info(STREAMS.usage)).state.last_seq;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ledger = await jsm.consumers.info(STREAMS.usage, consumerNames.ledger);
    if (ledger.ack_floor.stream_seq >= last) return true;
    if (Date.now() > deadline || closed()) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function requestsWithUsage(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('usage').select('request_id').where('request_id', 'in', ids).execute();
  return new Set(rows.map((r) => r.request_id));
}
