// In a JetStream cluster a worker stores a request's final event with an acked publish, and acks the
// request only once that store is confirmed. Acked first, a worker killed while the store was still
// being retried through a leader election took the only copy of the answer with it, and nothing
// redelivered the request: an async request stayed `in_progress` for good (cluster.test.ts, once in CI).
// Here the store is refused outright (LLM_EVENTS's max_msg_size, on a real nats-server): the request
// must stay unacked, and its redelivery, once the stream takes events again, completes it, billed once.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { connectNats, type Nats } from '../../shared/nats/connection.ts';
import { consumerNames, STREAMS } from '../../shared/nats/topology.ts';
import { startWorker, type Worker } from '../../services/worker/worker.ts';

let stack: Stack;
let nats: Nats;
let worker: Worker;
const logs: Array<{ level: number; msg: string }> = [];

beforeAll(async () => {
  // The consumer's ack wait: how soon the unacked request comes back.
  stack = await startStack({ worker: false, env: { WORKER_ACK_WAIT_SECONDS: '2' } });
  nats = await connectNats(stack.env.NATS_URL!, 'test-worker');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) logs.push(JSON.parse(l) as { level: number; msg: string });
      done();
    },
  });
  // NATS_STREAM_REPLICAS > 1 is what switches final events to acked publishes (a single server's
  // streams stay R1: the worker does not create them).
  worker = await startWorker({
    config: { ...stack.runtime.config, NATS_STREAM_REPLICAS: 3 },
    nats,
    log: pino({ level: 'info' }, sink),
    providers: ['openai'],
  });
});

afterAll(async () => {
  await worker?.close();
  await nats?.nc.close();
  await stack?.close();
});

describe('final event store before the request ack (cluster mode)', () => {
  it('a result LLM_EVENTS refused leaves the request unacked; its redelivery completes it', async () => {
    const jsm = stack.runtime.nats.jsm;
    await jsm.streams.update(STREAMS.events, { max_msg_size: 16 });
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', prefer: 'respond-async' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    await waitFor(() => logs.some((l) => l.msg.startsWith('final event not stored')), { what: 'the refused store logged' });
    // Held, not acked: JetStream still counts it as pending on the worker's consumer.
    const held = await jsm.consumers.info(STREAMS.requests, consumerNames.worker('openai', 'interactive'));
    expect(held.num_ack_pending).toBe(1);

    await jsm.streams.update(STREAMS.events, { max_msg_size: -1 });
    const done = await waitFor(
      async () => {
        const r = await fetch(`${stack.url}/v1/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
        const body = (await r.json()) as { status: string; response: { status_code: number } | null };
        return body.status === 'completed' ? body : undefined;
      },
      { timeoutMs: 20_000, what: 'the async request completed by the redelivery' },
    );
    expect(done.response?.status_code).toBe(200);
    const rows = await waitFor(
      async () => {
        const found = await stack.db.selectFrom('usage').select('request_id').where('request_id', '=', id).execute();
        return found.length ? found : undefined;
      },
      { what: 'the usage row' },
    );
    // Both deliveries recorded usage; the ledger keeps one row per request.
    await new Promise((r) => setTimeout(r, 300));
    expect(rows.length).toBe(1);
    expect((await stack.db.selectFrom('usage').select('request_id').where('request_id', '=', id).execute()).length).toBe(1);
  }, 40_000);
});
