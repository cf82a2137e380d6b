// Fault behaviour against real nats-server and Postgres: a worker SIGKILLed mid-request, a client
// that disconnects, duplicate deliveries.
import OpenAI from 'openai';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { consumerNames, H, STREAMS, subjects } from '../../shared/nats/topology.ts';
import { usageRecord } from '../harness/usage-record.ts';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  // No in-process worker: workers run as child processes this file can SIGKILL.
  // A dropped stream is cancelled once STREAM_RESUME_GRACE_MS passes without a resume: keep it short
  // here so the cancel-on-disconnect test still sees the upstream aborted within its 3 s.
  stack = await startStack({ worker: false, env: { WORKER_ACK_WAIT_SECONDS: '2', STREAM_RESUME_GRACE_MS: '500' } });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => stack?.close());

/** The headers an ingress puts on a chat request for openai/gpt-4o-mini, for tests that publish it themselves. */
async function requestHeaders(requestId: string) {
  const principal = await stack.db.selectFrom('api_keys').select(['id', 'tenant_id']).executeTakeFirstOrThrow();
  const h = natsHeaders();
  h.set(H.requestId, requestId);
  h.set(H.tenantId, principal.tenant_id);
  h.set(H.keyId, principal.id);
  h.set(H.ingressId, 'ingtest');
  h.set(H.kind, 'chat');
  h.set(H.provider, 'openai');
  h.set(H.model, 'gpt-4o-mini');
  return h;
}

/**
 * Starts a stream of `tokens` simulated tokens through the ingress and reads it until tok3 arrived;
 * `rest()` reads the remainder. For the tests that kill the worker mid-stream.
 */
async function streamUntilTok3(tokens: number) {
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
    body: JSON.stringify({
      model: 'openai/gpt-4o-mini',
      stream: true,
      messages: [{ role: 'user', content: `long\nmock:{"tokens":${tokens},"itl_ms":50}` }],
    }),
    signal: AbortSignal.timeout(20_000),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  while (!text.includes('tok3')) text += dec.decode((await reader.read()).value);
  return {
    requestId: res.headers.get('x-request-id')!,
    rest: async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += dec.decode(value);
      }
    },
  };
}

const tokensOf = (text: string) => [...text.matchAll(/"content":"( ?tok\d+)"/g)].map((m) => m[1]!.trim());

// Worker processes hold no database: the Postgres run covers this. Under load nats-server 2.9 was
// seen to hand the redelivery to the new worker with deliveryCount 1; the worker now also looks up the
// events of any request older than the ack wait (tested below with a request that waited unacked),
// and boot no longer rewrites an unchanged consumer.
describe.skipIf(currentBackend() === 'pglite')('worker killed mid-request', () => {
  it('a non-streaming request completes on another worker after redelivery, billed once', async () => {
    const first = await stack.spawn('worker');
    stack.mock.reset();
    const pending = client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'slow\nmock:{"ttft_ms":1500,"text":"survived"}' }] })
      .withResponse();
    await waitFor(() => stack.mock.stats.active === 1, { what: 'upstream call in flight' });
    await first.kill('SIGKILL');
    const second = await stack.spawn('worker');
    try {
      const { data, response } = await pending;
      expect(data.choices[0]!.message.content).toBe('survived');
      // The attempt number is the server's delivery count: 2, except when nats-server 2.9 reports the
      // redelivery as a first delivery (seen under heavy load). The answer and one usage row must hold.
      expect(['1', '2']).toContain(response.headers.get('x-switchyard-attempts'));
      const row = await waitForUsageRow(stack.db, response.headers.get('x-request-id')!);
      expect(row).toMatchObject({ status: 'ok' });
      await new Promise((r) => setTimeout(r, 300));
      expect(await stack.db.selectFrom('usage').select('request_id').where('request_id', '=', row.request_id).execute()).toHaveLength(1);
    } finally {
      await second.kill(); // a failed expectation must not leave a worker behind for the next tests
    }
  });

  it('a partly delivered stream ends with a clear error event and no duplicated tokens', async () => {
    const first = await stack.spawn('worker');
    const { requestId, rest } = await streamUntilTok3(200);
    await first.kill('SIGKILL');
    const second = await stack.spawn('worker');
    try {
      const text = await rest();
      expect(text).toContain('event: error');
      expect(text).toContain('stream_interrupted');
      expect(text).not.toContain('[DONE]');
      const tokens = tokensOf(text);
      expect(new Set(tokens).size).toBe(tokens.length); // no token twice
      expect(tokens.slice(0, 4)).toEqual(['tok0', 'tok1', 'tok2', 'tok3']);
      const row = await waitForUsageRow(stack.db, requestId);
      expect(row).toMatchObject({ status: 'error', error_code: 'stream_interrupted' });
    } finally {
      await second.kill();
    }
  });

  it('a partly delivered stream whose chunks never reached LLM_EVENTS ends with stream_interrupted, not silence', async () => {
    // In a cluster a chunk published while LLM_EVENTS has no leader reaches the ingress live but is
    // stored nowhere; its redelivery then finds nothing and runs the request again. Purging the
    // stored chunks before the kill makes that happen here (seen in cluster.test.ts as a stream that
    // stalled until its client gave up: the ingress dropped the whole second run).
    const first = await stack.spawn('worker');
    const { requestId, rest } = await streamUntilTok3(40);
    await first.kill('SIGKILL');
    await stack.runtime.nats.jsm.streams.purge(STREAMS.events, { filter: subjects.eventsOfRequest(requestId) });
    const second = await stack.spawn('worker');
    try {
      const text = await rest();
      expect(text).toContain('stream_interrupted');
      expect(text).not.toContain('[DONE]');
      const tokens = tokensOf(text);
      expect(new Set(tokens).size).toBe(tokens.length); // the second run's tokens never reach the client
      // The second run did finish and is what the ledger bills (one row).
      const row = await waitForUsageRow(stack.db, requestId);
      expect(row).toMatchObject({ status: 'ok' });
    } finally {
      await second.kill();
    }
  });
});

describe('long generations', () => {
  it('a stream longer than the ack wait is kept alive with msg.working() and never redelivered', async () => {
    const worker = await stack.spawn('worker');
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'long\nmock:{"tokens":60,"itl_ms":80}' }] })
      .withResponse();
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text.split(' ')).toHaveLength(60); // ~4.8 s of streaming against a 2 s ack wait
    const row = await waitForUsageRow(stack.db, response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ status: 'ok', attempts: 1, output_tokens: 60 });
    await worker.kill();
  });
});

describe('client disconnect', () => {
  it('cancels the upstream call and records the request as cancelled', async () => {
    const worker = await stack.spawn('worker');
    stack.mock.reset();
    const ac = new AbortController();
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'long\nmock:{"tokens":1000,"itl_ms":20}' }],
      }),
    });
    const requestId = res.headers.get('x-request-id')!;
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    ac.abort();
    // The upstream connection is closed well before the 20 s the answer would take.
    await waitFor(() => stack.mock.stats.aborted === 1, { timeoutMs: 3_000, what: 'upstream aborted' });
    expect(stack.mock.stats.completed).toBe(0);
    const row = await waitForUsageRow(stack.db, requestId);
    expect(row.status).toBe('cancelled');

    // Non-streaming too: the client gives up, the upstream call stops.
    stack.mock.reset();
    const ac2 = new AbortController();
    const p = fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac2.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'slow\nmock:{"ttft_ms":20000}' }] }),
    }).catch(() => null);
    await waitFor(() => stack.mock.stats.active === 1, { what: 'upstream call in flight' });
    ac2.abort();
    await p;
    await waitFor(() => stack.mock.stats.aborted === 1, { timeoutMs: 3_000, what: 'upstream aborted' });
    await worker.kill();
  });
});

describe('duplicate delivery', () => {
  it('the same request published twice with one Nats-Msg-Id runs once', async () => {
    const worker = await stack.spawn('worker');
    stack.mock.reset();
    const { nc, js } = stack.runtime.nats;
    const requestId = `req_dup${Date.now()}`;
    const h = await requestHeaders(requestId);
    const events: string[] = [];
    const sub = nc.subscribe(subjects.events('ingtest', requestId), { callback: (_e, m) => void events.push(m.string()) });
    const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'once' }] });
    const a = await js.publish(subjects.request('openai', 'interactive'), body, { msgID: requestId, headers: h });
    const b = await js.publish(subjects.request('openai', 'interactive'), body, { msgID: requestId, headers: h });
    expect(b.duplicate).toBe(true);
    expect(b.seq).toBe(a.seq);
    await waitForUsageRow(stack.db, requestId);
    await new Promise((r) => setTimeout(r, 300));
    expect(stack.mock.stats.byRoute['openai.chat']).toBe(1);
    expect(events.filter((e) => e.includes('"type":"result"'))).toHaveLength(1);
    sub.unsubscribe();
    await worker.kill();
  });

  it('a request older than the ack wait whose events show tokens went out is not run again, whatever its delivery count', async () => {
    // What a redelivery looks like when the server reports it as a first delivery: old, with events.
    stack.mock.reset();
    const { nc, js } = stack.runtime.nats;
    const requestId = `req_old${Date.now()}`;
    const h = await requestHeaders(requestId);
    h.set(H.stream, '1');
    await js.publish(
      subjects.events('ingtest', requestId),
      JSON.stringify({ type: 'chunk', seq: 1, attempt: 1, delta: { content: 'tok0' } }),
    );
    const body = JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'old' }] });
    await js.publish(subjects.request('openai', 'interactive'), body, { msgID: requestId, headers: h });
    const events: string[] = [];
    const sub = nc.subscribe(subjects.events('ingtest', requestId), { callback: (_e, m) => void events.push(m.string()) });
    await new Promise((r) => setTimeout(r, 2_500)); // older than WORKER_ACK_WAIT_SECONDS=2, never delivered
    const worker = await stack.spawn('worker');
    const row = await waitForUsageRow(stack.db, requestId);
    expect(row).toMatchObject({ status: 'error', error_code: 'stream_interrupted' });
    expect(events.some((e) => e.includes('stream_interrupted'))).toBe(true);
    expect(stack.mock.stats.byRoute['openai.chat'] ?? 0).toBe(0);
    sub.unsubscribe();
    await worker.kill();
  });

  it('a redelivered request whose answer is stored but never reached its ingress gets the same answer sent again, not run again', async () => {
    // The earlier worker's result reached LLM_EVENTS, but its live delivery died with a NATS node
    // and the ingress, still connected elsewhere, had no reconnect to replay it (cluster.test.ts).
    stack.mock.reset();
    const { nc, js } = stack.runtime.nats;
    const requestId = `req_stored${Date.now()}`;
    const h = await requestHeaders(requestId);
    const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
    const result = {
      type: 'result',
      kind: 'chat',
      message: { role: 'assistant', content: 'stored answer' },
      finish_reason: 'stop',
      usage,
      model: 'gpt-4o-mini',
      provider: 'openai',
      target: 'openai/gpt-4o-mini',
      attempts: 1,
      seq: 1,
      attempt: 1,
    };
    await js.publish(subjects.events('ingtest', requestId), JSON.stringify(result)); // before anyone listens
    const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'stored' }] });
    await js.publish(subjects.request('openai', 'interactive'), body, { msgID: requestId, headers: h });
    const events: Array<Record<string, unknown>> = [];
    const sub = nc.subscribe(subjects.events('ingtest', requestId), { callback: (_e, m) => void events.push(m.json()) });
    await new Promise((r) => setTimeout(r, 2_500)); // older than WORKER_ACK_WAIT_SECONDS=2: looked up as a redelivery
    const worker = await stack.spawn('worker');
    try {
      const row = await waitForUsageRow(stack.db, requestId);
      expect(row).toMatchObject({ status: 'ok', input_tokens: 5, output_tokens: 2 });
      await waitFor(() => events.length > 0, { what: 'the stored result sent again' });
      expect(events).toEqual([result]);
      expect(stack.mock.stats.byRoute['openai.chat'] ?? 0).toBe(0);
    } finally {
      sub.unsubscribe();
      await worker.kill();
    }
  });

  it('a request whose envelope is not JSON is dropped at once, not redelivered until max_deliver', async () => {
    const { js, jsm } = stack.runtime.nats;
    const h = natsHeaders();
    h.set(H.envelope, '{"requestId":');
    await js.publish(subjects.request('openai', 'interactive'), '{}', { msgID: `req_bad${Date.now()}`, headers: h });
    const worker = await stack.spawn('worker');
    try {
      await new Promise((r) => setTimeout(r, 3_000)); // past WORKER_ACK_WAIT_SECONDS=2: a redelivery would show
      const info = await jsm.consumers.info(STREAMS.requests, consumerNames.worker('openai', 'interactive'));
      expect({ pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered }).toEqual({
        pending: 0,
        ackPending: 0,
        redelivered: 0,
      });
      expect(worker.output()).toContain('request envelope is not JSON; dropped');
    } finally {
      await worker.kill();
    }
  });

  it('a usage record delivered twice is counted once, in the rows and in the daily rollup', async () => {
    const requestId = `req_usage_dup${Date.now()}`;
    const rec = usageRecord({
      request_id: requestId,
      tenant_id: 'tenant_dup',
      model: 'openai/dup-model',
      upstream_model: 'dup-model',
      input_tokens: 10,
      output_tokens: 5,
      cost_usd: 0.001,
    });
    const { js } = stack.runtime.nats;
    // Different message ids, so JetStream's own dedupe does not hide the duplicate from the ledger.
    await js.publish(subjects.usage('tenant_dup'), JSON.stringify([rec]), { msgID: 'dup-a' });
    await js.publish(subjects.usage('tenant_dup'), JSON.stringify([rec]), { msgID: 'dup-b' });
    await js.publish(subjects.usage('tenant_dup'), JSON.stringify([rec, rec]), { msgID: 'dup-c' });
    await waitForUsageRow(stack.db, requestId);
    await new Promise((r) => setTimeout(r, 500));
    const rows = await stack.db.selectFrom('usage').selectAll().where('tenant_id', '=', 'tenant_dup').execute();
    expect(rows).toHaveLength(1);
    const daily = await stack.db.selectFrom('usage_daily').selectAll().where('tenant_id', '=', 'tenant_dup').execute();
    expect(daily).toHaveLength(1);
    expect(daily[0]).toMatchObject({ requests: '1', input_tokens: '10', output_tokens: '5' });
  });
});
