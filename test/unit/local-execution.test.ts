// The bookkeeping of local execution: which held seconds are purged when (shared/runtime/local-
// execution.ts), and when a silent instance counts as dead (services/all/rescuer.ts).
import { describe, expect, it } from 'vitest';
import { HeldSeconds } from '../../shared/runtime/local-execution.ts';
import { SilenceTracker } from '../../services/all/rescuer.ts';
import { subjects } from '../../shared/nats/topology.ts';
import { headers } from '@nats-io/transport-node';
import { encodeRequestHeaders } from '../../shared/nats/request-envelope.ts';
import { priorDeliveries, requeueRequest } from '../../services/worker/local-delivery.ts';

function held(startMs: number, failPurges = 0) {
  let now = startMs;
  const purged: string[] = [];
  let failures = failPurges;
  const seconds = new HeldSeconds(
    'ing1',
    async (subject) => {
      if (failures-- > 0) throw new Error('nats down');
      purged.push(subject);
    },
    () => now,
  );
  const settle = () => new Promise((r) => setImmediate(r));
  return { seconds, purged, settle, at: (ms: number) => (now = ms) };
}

describe('HeldSeconds', () => {
  it('purges a second once it is over and its last request ended, not before', async () => {
    const { seconds, purged, settle, at } = held(10_000);
    const a = seconds.claim();
    const b = seconds.claim();
    expect(a.subject).toBe(subjects.held('ing1', 10));
    expect(b.subject).toBe(a.subject);
    at(11_500);
    a.release();
    await settle();
    expect(purged).toEqual([]); // b still runs
    b.release();
    b.release(); // twice is once
    await settle();
    expect(purged).toEqual([subjects.held('ing1', 10)]);
    expect(seconds.held).toBe(0);
  });

  it('leaves the current second to the sweep once it is over', async () => {
    const { seconds, purged, settle, at } = held(20_000);
    seconds.claim().release();
    await seconds.sweep();
    await settle();
    expect(purged).toEqual([]); // the second is still current: more requests may join it
    at(21_000);
    await seconds.sweep();
    expect(purged).toEqual([subjects.held('ing1', 20)]);
  });

  it('purges everything that ended on shutdown, and keeps what still runs', async () => {
    const { seconds, purged } = held(30_000);
    seconds.claim().release();
    const running = seconds.claim();
    await seconds.sweep(true);
    expect(purged).toEqual([]); // the second still holds a running request
    expect(seconds.held).toBe(1);
    running.release();
    await seconds.sweep(true);
    expect(purged).toEqual([subjects.held('ing1', 30)]);
  });

  it('tries a failed purge again on the next sweep', async () => {
    const { seconds, purged, settle, at } = held(40_000, 1);
    const slot = seconds.claim();
    at(41_000);
    slot.release();
    await settle();
    expect(purged).toEqual([]);
    await seconds.sweep();
    expect(purged).toEqual([subjects.held('ing1', 40)]);
  });

  it('never claims a second that may have been purged when the clock steps back', async () => {
    const { seconds, purged, settle, at } = held(50_000);
    const first = seconds.claim();
    at(51_000);
    const second = seconds.claim();
    first.release();
    await settle();
    expect(purged).toEqual([subjects.held('ing1', 50)]);
    at(50_200);
    expect(seconds.claim().subject).toBe(subjects.held('ing1', 51));
    expect(second.subject).toBe(subjects.held('ing1', 51));
  });
});

describe('SilenceTracker', () => {
  it('takes an ingress over once it was silent for the grace', () => {
    const t = new SilenceTracker(2_000);
    expect(t.observe('a', 'silent', 0)).toBe(false);
    expect(t.observe('a', 'silent', 1_999)).toBe(false);
    expect(t.observe('a', 'silent', 2_000)).toBe(true);
  });

  it('sooner when its newest held request is older than the grace, but never before half of it', () => {
    const t = new SilenceTracker(2_000);
    // Held requests stored 5 s ago: a consumer would have redelivered them already.
    expect(t.observe('a', 'silent', 10_000, 5_000)).toBe(false);
    expect(t.observe('a', 'silent', 10_999, 5_000)).toBe(false); // a reconnect takes this long
    expect(t.observe('a', 'silent', 11_000, 5_000)).toBe(true);
    // A request stored just now waits for the whole grace.
    const u = new SilenceTracker(2_000);
    u.observe('b', 'silent', 10_000, 10_000);
    expect(u.observe('b', 'silent', 11_500, 10_000)).toBe(false);
    expect(u.observe('b', 'silent', 12_000, 10_000)).toBe(true);
  });

  it('starts over when the ingress answers, and a timeout decides nothing', () => {
    const t = new SilenceTracker(2_000);
    t.observe('a', 'silent', 0);
    t.observe('a', 'alive', 1_000); // reconnected
    expect(t.observe('a', 'silent', 2_500)).toBe(false);
    expect(t.observe('a', 'unknown', 5_000)).toBe(false);
    expect(t.observe('a', 'silent', 5_000)).toBe(true);
    expect(new SilenceTracker(0).observe('b', 'unknown', 0)).toBe(false);
  });

  it('forgets ingresses that hold nothing any more', () => {
    const t = new SilenceTracker(2_000);
    t.observe('a', 'silent', 0);
    t.retain(new Set());
    expect(t.observe('a', 'silent', 5_000)).toBe(false);
  });
});

describe('requeueRequest', () => {
  it("publishes the request again on its provider's worker subject as the redelivery it is", async () => {
    const h = encodeRequestHeaders({
      requestId: 'req1',
      tenantId: 't1',
      keyId: 'k1',
      ingressId: 'ing1',
      kind: 'chat',
      provider: 'groq',
      model: 'm',
      publicModel: 'groq/m',
      stream: false,
      priority: 'interactive',
      batchId: null,
      receivedAt: 1,
      deadline: 0,
      targets: [{ provider: 'groq', model: 'm' }],
    });
    h.set('Nats-Msg-Id', 'req1');
    h.set('traceparent', '00-abc-def-01');
    const sent: Array<{ subject: string; msgID?: string; headers: ReturnType<typeof headers> }> = [];
    const js = {
      publish: async (subject: string, _data: Uint8Array, opts: { msgID?: string; headers: ReturnType<typeof headers> }) => {
        sent.push({ subject, msgID: opts.msgID, headers: opts.headers });
        return { stream: 'LLM_REQUESTS', seq: 1, duplicate: false };
      },
    } as never;
    await requeueRequest(js, h, new Uint8Array([123, 125]), 2);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.subject).toBe(subjects.request('groq', 'interactive'));
    expect(sent[0]!.msgID).toBe('req1.r2'); // not the original id: the dedupe window would drop it
    expect(priorDeliveries(sent[0]!.headers)).toBe(2);
    expect(sent[0]!.headers.get('traceparent')).toBe('00-abc-def-01');
    expect(sent[0]!.headers.get('Nats-Msg-Id')).toBe('');
    expect(priorDeliveries(headers())).toBe(0);
  });
});
