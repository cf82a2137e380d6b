// One trace across processes: the client's traceparent is continued by the ingress, carried in the
// NATS headers to the worker and in the usage record to the ledger, and every process exports its
// spans over OTLP/HTTP (http/json and http/protobuf) to a receiver in this test. On Postgres the
// ingress, worker and ledger are separate processes; on PGlite (one process owns the database) the
// all-in-one process of `npm start` is traced the same way.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type ChildService, type Stack } from '../harness/stack.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../harness/otlp-receiver.ts';
import { waitFor } from '../harness/ports.ts';

const SERVER = 2;
const CLIENT = 3;
const CONSUMER = 5;

let stack: Stack;
let receiver: OtlpReceiver;
let children: ChildService[] = [];

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  stack = await startStack({ ingress: false, worker: false, ledger: false, env: { WORKER_MAX_RETRIES: '0' } });
});
afterEach(async () => {
  for (const c of children) await c.kill('SIGTERM');
  children = [];
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

function otelEnv(protocol: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  };
}

/** Starts the traced services; returns the ingress URL and the service names their spans carry. */
async function startTracedServices(protocol: string): Promise<{ url: string; services: string[] }> {
  const env = otelEnv(protocol);
  receiver.contentTypes.length = 0;
  if (stack.backend === 'pglite') {
    const all = await stack.spawnAllInOne({ env: { ...env, OTEL_SERVICE_NAME: 'switchyard-all' } });
    children.push(all);
    return { url: all.url, services: ['switchyard-all'] };
  }
  // Worker and ledger first: the ingress's healthz answering means everything is ready.
  children.push(await stack.spawn('worker', env));
  children.push(await stack.spawn('ledger', env));
  children.push(await stack.spawn('ingress', env));
  return { url: stack.url, services: ['switchyard-ingress', 'switchyard-worker', 'switchyard-ledger'] };
}

const spansOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
const one = (spans: ReceivedSpan[], name: string) => {
  const found = spans.filter((s) => s.name === name);
  expect(
    found.map((s) => s.name),
    `spans named ${name}`,
  ).toEqual([name]);
  return found[0]!;
};

describe.each([
  { protocol: 'http/json', stream: true, contentType: 'application/json' },
  { protocol: 'http/protobuf', stream: false, contentType: 'application/x-protobuf' },
])('OTLP $protocol', ({ protocol, stream, contentType }) => {
  it('one trace from the client span through ingress, queue, worker, upstream call and ledger', async () => {
    const { url, services } = await startTracedServices(protocol);
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.apiKey}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${clientSpanId}-01`,
        tracestate: 'client=abc',
      },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        stream,
        messages: [{ role: 'user', content: 'three words\nmock:{"text":"one two three"}' }],
      }),
    });
    expect(res.status).toBe(200);
    await res.text();

    const spans = await waitFor(
      () => {
        const s = spansOf(traceId);
        return (
          s.some((x) => x.name === 'ledger write') && s.some((x) => x.kind === SERVER) && s.some((x) => x.name === 'worker attempt') && s
        );
      },
      { timeoutMs: 20_000, what: `spans of trace ${traceId}: ${JSON.stringify(receiver.spans.map((s) => s.name))}` },
    );
    expect(receiver.contentTypes.every((t) => t.startsWith(contentType))).toBe(true);

    const server = one(spans, 'POST /v1/chat/completions');
    expect(server.kind).toBe(SERVER);
    expect(server.parentSpanId).toBe(clientSpanId);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/chat/completions',
      'http.response.status_code': 200,
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'openai/gpt-4o-mini',
    });

    const queueWait = one(spans, 'queue wait');
    const attempt = one(spans, 'worker attempt');
    expect(queueWait.parentSpanId).toBe(server.spanId);
    expect(attempt.parentSpanId).toBe(server.spanId);
    expect(attempt.kind).toBe(CONSUMER);
    // The queue wait starts at the ingress's publish and ends where the attempt starts.
    expect(queueWait.startNs).toBeGreaterThanOrEqual(server.startNs - 1_000_000n);
    expect(queueWait.endNs).toBeLessThanOrEqual(attempt.startNs + 1_000_000n);
    expect(attempt.attributes).toMatchObject({
      'messaging.system': 'nats',
      // The worker subject, or in the one-process layout the held subject its own worker ran it from.
      'messaging.destination.name': expect.stringMatching(/^llm\.req\.(openai\.interactive|_held\.ing[0-9a-f]+\.\d+)$/),
      'switchyard.delivery_count': 1,
      'gen_ai.response.finish_reasons': ['stop'],
    });
    // The name carries an ingress and a second when held; the template is what dashboards group by.
    expect(attempt.attributes['messaging.destination.template']).toBe(
      /_held/.test(String(attempt.attributes['messaging.destination.name']))
        ? 'llm.req._held.{ingress}.{second}'
        : 'llm.req.{provider}.{priority}',
    );
    // tracestate travelled with traceparent through the NATS headers.
    expect(attempt.traceState).toBe('client=abc');

    const upstream = one(spans, 'chat gpt-4o-mini');
    expect(upstream.kind).toBe(CLIENT);
    expect(upstream.parentSpanId).toBe(attempt.spanId);
    expect(upstream.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.output_tokens': 3,
      'gen_ai.response.finish_reasons': ['stop'],
      'http.response.status_code': 200,
    });
    expect(upstream.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);

    const ledger = one(spans, 'ledger write');
    expect(ledger.parentSpanId).toBe(attempt.spanId);
    expect(ledger.attributes).toMatchObject({ 'db.collection.name': 'usage', 'switchyard.usage.status': 'ok' });

    // A failed upstream call: the client span carries the status, the attempt the error code.
    const failedTrace = randomBytes(16).toString('hex');
    const failed = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.apiKey}`,
        'content-type': 'application/json',
        traceparent: `00-${failedTrace}-${randomBytes(8).toString('hex')}-01`,
      },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":500}}' }] }),
    });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const failedSpans = await waitFor(() => spansOf(failedTrace).some((s) => s.name === 'worker attempt') && spansOf(failedTrace), {
      timeoutMs: 20_000,
      what: 'spans of the failed request',
    });
    expect(one(failedSpans, 'chat gpt-4o-mini').attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500' });
    expect(one(failedSpans, 'worker attempt').attributes['error.type']).toEqual(expect.any(String));

    // Each span was exported by the process that made it.
    if (services.length === 3) {
      expect(server.service).toBe('switchyard-ingress');
      expect([queueWait.service, attempt.service, upstream.service]).toEqual(Array(3).fill('switchyard-worker'));
      expect(ledger.service).toBe('switchyard-ledger');
    } else expect(new Set(spans.map((s) => s.service))).toEqual(new Set(services));
  });
});
