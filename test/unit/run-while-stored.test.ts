// A held request in the one-process layout runs while its copy is stored when the worker is nearly
// idle (shared/runtime/local-execution.ts): the worker is handed the request before the store is
// acknowledged and learns the outcome afterwards, and the ingress's router holds the run's events until the store is
// acknowledged, so a refused store still fails the request (503) before any answer reaches the client.
// Stand-ins for NATS and the worker; test/integration/local-execution.test.ts drives the real ones.
import { afterEach, describe, expect, it } from 'vitest';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { publishRequest } from '../../services/ingress/dispatcher.ts';
import { EventRouter, QUIET_CHECK_MS } from '../../services/ingress/event-router.ts';
import { settlementOf } from '../../services/ingress/request-dispatch.ts';
import { EARLY_RUN_MAX_INFLIGHT, localExecution, type StoreOutcome } from '../../shared/runtime/local-execution.ts';
import { localAnswers } from '../../shared/runtime/local-answers.ts';
import type { Nats } from '../../shared/nats/connection.ts';
import type { JetStreamPublisher } from '../../shared/nats/publisher.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

const ingressId = 'ing-run-while-stored';
const fakeNats = {
  nc: { info: { max_payload: 1 << 20 }, subscribe: () => ({ unsubscribe() {} }) },
  jsm: { streams: { purge: async () => ({ purged: 0 }) } },
} as unknown as Nats;

function harness({ inflight = 0 } = {}) {
  const runs: Array<{ subject: string; outcome: StoreOutcome | 'pending'; early: boolean; done: () => void }> = [];
  const disable = localExecution.enable(fakeNats, {
    hasRoom: () => true,
    inflight: () => inflight,
    run(_h: MsgHdrs, _body, subject, stored, done) {
      // null: handed over with its copy stored already.
      const run = { subject, outcome: (stored ? 'pending' : 'stored') as StoreOutcome | 'pending', early: stored !== null, done };
      runs.push(run);
      void stored?.then((o) => (run.outcome = o));
    },
  });
  const unregister = localAnswers.register(ingressId, () => true);
  let ack!: { resolve: (v: { duplicate: boolean }) => void; reject: (e: Error) => void };
  const msgIds: Array<string | undefined> = [];
  const publisher = {
    publish: (_subject: string, _data: unknown, _headers: unknown, msgId?: string) => {
      msgIds.push(msgId);
      return new Promise((resolve, reject) => (ack = { resolve, reject }));
    },
  } as unknown as JetStreamPublisher;
  const publish = () =>
    publishRequest(
      fakeNats,
      ingressId,
      {
        requestId: `req_${Math.random().toString(16).slice(2)}`,
        principal: { tenantId: 't1', keyId: 'k1' },
        kind: 'chat',
        route: { provider: 'openai', model: 'gpt-4o-mini' },
        publicModel: 'openai/gpt-4o-mini',
        stream: false,
        body: '{"model":"openai/gpt-4o-mini","messages":[]}',
      },
      publisher,
      () => earlyCalls++,
    );
  let earlyCalls = 0;
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    runs,
    publish,
    /** The message id each publish carried. */
    msgIds,
    /** How often the caller was told a run started before the ack (it then holds the run's events). */
    early: () => earlyCalls,
    ack: () => ack,
    tick,
    async close() {
      unregister();
      await disable();
    },
  };
}

let current: ReturnType<typeof harness> | null = null;
afterEach(async () => {
  await current?.close();
  current = null;
});

describe('a held request runs while it is stored', () => {
  it('reaches the worker before the store is acknowledged, then learns it was stored', async () => {
    const h = (current = harness());
    const published = h.publish();
    await h.tick();
    expect(h.runs).toHaveLength(1);
    expect(h.runs[0]).toMatchObject({ early: true, outcome: 'pending' });
    expect(h.early()).toBe(1);
    h.ack().resolve({ duplicate: false });
    await expect(published).resolves.toBe(true);
    await h.tick();
    expect(h.runs[0]!.outcome).toBe('stored');
  });

  it('is published without a message id, so nats-server keeps none for it', async () => {
    const h = (current = harness());
    const published = h.publish();
    h.ack().resolve({ duplicate: false });
    await expect(published).resolves.toBe(true);
    expect(h.msgIds).toEqual([undefined]);
  });

  it('a refused store: the run is stopped, and the 503 leaves admission its estimates', async () => {
    const h = (current = harness());
    const published = h.publish();
    h.ack().reject(new Error('maximum message size exceeded'));
    const err = await published.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect((err as ApiError).outcomeUnknown).toBe(true);
    expect(settlementOf(err as ApiError, false)).toBe('unknown');
    await h.tick();
    expect(h.runs[0]!.outcome).toBe('refused');
  });

  it(`with ${EARLY_RUN_MAX_INFLIGHT} requests running, a held request starts once stored, as before`, async () => {
    const h = (current = harness({ inflight: EARLY_RUN_MAX_INFLIGHT }));
    const published = h.publish();
    await h.tick();
    expect(h.runs).toHaveLength(0);
    h.ack().resolve({ duplicate: false });
    await expect(published).resolves.toBe(true);
    expect(h.runs).toHaveLength(1);
    expect(h.runs[0]).toMatchObject({ early: false, outcome: 'stored' });
    expect(h.early()).toBe(0); // nothing to hold: no event can come before the ack
    // A refused store is a plain failure, nothing having run.
    const refused = h.publish();
    h.ack().reject(new Error('no space'));
    const err = (await refused.catch((e: unknown) => e)) as ApiError;
    expect(err.outcomeUnknown).toBe(false);
    expect(h.runs).toHaveLength(1);
  });

  it('without local execution nothing runs early, and a refused publish is a plain failure', async () => {
    const h = (current = harness());
    await h.close();
    current = null;
    const published = h.publish();
    h.ack().reject(new Error('no stream'));
    const err = (await published.catch((e: unknown) => e)) as ApiError;
    expect(h.runs).toHaveLength(0);
    expect(err.outcomeUnknown).toBe(false);
    expect(settlementOf(err, false)).toBe('failed');
  });
});

describe('the router holds a local run’s events until the store is acknowledged', () => {
  const nc = { subscribe: () => ({ unsubscribe() {} }) } as unknown as NatsConnection;
  const chunk = (seq: number): StreamEvent => ({ type: 'chunk', seq, attempt: 1, delta: { content: `t${seq}` } }) as StreamEvent;

  function routed() {
    const router = new EventRouter(nc, `ing-gate-${Math.random().toString(16).slice(2)}`);
    const received: StreamEvent[] = [];
    router.register('req_1', { onEvent: (ev) => void received.push(ev), onTimeout: () => {}, deadline: Date.now() + 60_000, unstored: [] });
    return { router, received };
  }

  it('stored: hands them on in order, and later ones directly', () => {
    const { router, received } = routed();
    expect(router.deliverLocal('req_1', chunk(1))).toBe(true);
    expect(router.deliverLocal('req_1', chunk(2))).toBe(true);
    expect(received).toHaveLength(0);
    router.stored('req_1');
    router.deliverLocal('req_1', chunk(3));
    expect(received.map((e) => e.seq)).toEqual([1, 2, 3]);
    router.close();
  });

  it('neither a quiet check nor a reconnect replay reads back what a run not yet stored stored for resume', async () => {
    const { router, received } = routed();
    const reads: string[] = [];
    router.readLast = async (id) => (reads.push(id), chunk(1));
    const t0 = Date.now();
    router.sweepOnce(t0);
    router.sweepOnce(t0 + QUIET_CHECK_MS);
    await router.replayMissed(async (id) => (reads.push(id), [chunk(1)]));
    expect(reads).toEqual([]);
    expect(received).toEqual([]);
    router.stored('req_1');
    router.sweepOnce(t0 + 2 * QUIET_CHECK_MS);
    await new Promise((r) => setImmediate(r));
    expect(reads).toEqual(['req_1']);
    router.close();
  });
});
