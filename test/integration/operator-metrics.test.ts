// The operator's series in /metrics after real traffic through NATS and the database: requests by
// route, provider, model and status; latency, time to first token and queue wait histograms; tokens
// and cost by model; JetStream queue depth, redeliveries and usage backlog; limit rejections; batch
// progress. Model labels stay bounded: a name nobody configured is `other`.
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ batch: true, env: { WORKER_MAX_RETRIES: '0' } });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => stack?.close());

/** Every sample line of `name` (exactly that metric, not its _bucket/_sum/_count unless named). */
async function series(name: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => {
      const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(l)!;
      const labels = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
      return { labels, value: Number(m[2]) };
    });
}

const find = (rows: Awaited<ReturnType<typeof series>>, labels: Record<string, string>) =>
  rows.find((r) => Object.entries(labels).every(([k, v]) => r.labels[k] === v));

describe('/metrics after traffic', () => {
  it('requests, latency, TTFT, queue wait, tokens and cost carry provider and a bounded model label', async () => {
    const chat = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi\nmock:{"text":"one two three"}' }],
    });
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      stream: true,
      messages: [{ role: 'user', content: 'count\nmock:{"tokens":5,"itl_ms":2}' }],
    });
    for await (const _chunk of stream);
    // A model nobody configured still routes to the provider, but is labelled `other`.
    const tenantChosen = 'openai/my-own-model-7f3a9';
    await client.chat.completions.create({ model: tenantChosen, messages: [{ role: 'user', content: 'x\nmock:{"text":"ok"}' }] });
    await waitForUsageRow(stack.db, chat.id.replace('chatcmpl-', 'req_'));

    const requests = await series('switchyard_requests_total');
    const route = '/v1/chat/completions';
    expect(find(requests, { route, provider: 'openai', model: 'openai/gpt-4o-mini', status: '200' })?.value).toBe(2);
    expect(find(requests, { route, provider: 'openai', model: 'other', status: '200' })?.value).toBe(1);

    const duration = await series('switchyard_request_duration_seconds_count');
    expect(find(duration, { route, provider: 'openai', model: 'openai/gpt-4o-mini' })?.value).toBe(2);

    const ttft = await series('switchyard_time_to_first_token_seconds_count');
    expect(find(ttft, { provider: 'openai', model: 'openai/gpt-4o-mini' })?.value).toBe(1); // the stream only
    const ttftSum = await series('switchyard_time_to_first_token_seconds_sum');
    expect(find(ttftSum, { provider: 'openai', model: 'openai/gpt-4o-mini' })!.value).toBeGreaterThan(0);

    const queueWait = await series('switchyard_queue_wait_seconds_count');
    expect(find(queueWait, { provider: 'openai', priority: 'interactive' })?.value).toBe(3);

    const llm = await series('switchyard_llm_requests_total');
    expect(find(llm, { provider: 'openai', model: 'openai/gpt-4o-mini', kind: 'chat', status: 'ok' })?.value).toBe(2);

    const tokens = await series('switchyard_tokens_total');
    expect(find(tokens, { provider: 'openai', model: 'openai/gpt-4o-mini', direction: 'output' })?.value).toBe(3 + 5);
    expect(find(tokens, { provider: 'openai', model: 'openai/gpt-4o-mini', direction: 'input' })!.value).toBeGreaterThan(0);
    const cost = await series('switchyard_cost_usd_total');
    expect(find(cost, { provider: 'openai', model: 'openai/gpt-4o-mini' })!.value).toBeGreaterThan(0);

    // The tenant's string is in no label anywhere.
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    expect(text).not.toContain('my-own-model');
  });

  it('queue depth, redeliveries and usage backlog per provider from the JetStream consumers', async () => {
    const depth = await series('switchyard_queue_depth');
    expect(find(depth, { provider: 'openai', priority: 'interactive' })?.value).toBe(0);
    expect(find(depth, { provider: 'anthropic', priority: 'batch' })?.value).toBe(0);
    expect(find(await series('switchyard_queue_inflight'), { provider: 'openai', priority: 'interactive' })).toBeDefined();
    expect(find(await series('switchyard_queue_redelivered'), { provider: 'openai', priority: 'interactive' })?.value).toBe(0);
    const backlog = await series('switchyard_usage_backlog');
    expect(backlog).toHaveLength(1);
    expect(backlog[0]!.value).toBeGreaterThanOrEqual(0);
  });

  it('Responses and legacy completions are labelled with the provider that served them, like chat', async () => {
    // Both routes share chat's dispatch (services/ingress/request-dispatch.ts), which records the provider.
    await client.responses.create({ model: 'openai/gpt-4o-mini', input: 'hi\nmock:{"text":"fine"}' });
    await client.completions.create({ model: 'openai/gpt-4o-mini', prompt: 'hi\nmock:{"text":"fine"}' });
    const requests = await series('switchyard_requests_total');
    for (const route of ['/v1/responses', '/v1/completions']) {
      expect(find(requests, { route, provider: 'openai', model: 'openai/gpt-4o-mini', status: '200' })?.value, route).toBe(1);
      expect(find(requests, { route, provider: '' }), route).toBeUndefined();
    }
  });

  it('a request refused at validation counts as a 400 of its route, with no provider', async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: 'not a list' }),
    });
    expect(res.status).toBe(400);
    const requests = await series('switchyard_requests_total');
    expect(find(requests, { route: '/v1/chat/completions', provider: '', model: 'openai/gpt-4o-mini', status: '400' })?.value).toBe(1);
  });

  it('batch progress: lines by outcome and batches by status', async () => {
    const line = (id: string, content: string) =>
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] },
      });
    const file = await client.files.create({
      file: await toFile(
        Buffer.from([line('a', 'ok\nmock:{"text":"fine"}'), line('b', 'bad\nmock:{"error":{"status":400}}')].join('\n') + '\n'),
        'in.jsonl',
      ),
      purpose: 'batch',
    });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(async () => (await client.batches.retrieve(batch.id)).status === 'completed', { timeoutMs: 30_000, what: 'batch done' });
    const lines = await series('switchyard_batch_lines_total');
    expect(find(lines, { outcome: 'completed' })?.value).toBe(1);
    expect(find(lines, { outcome: 'failed' })?.value).toBe(1);
    // Sampled at most every 5 s from the database.
    await waitFor(async () => find(await series('switchyard_batches'), { status: 'completed' })?.value === 1, {
      timeoutMs: 10_000,
      what: 'batches gauge',
    });
    expect(find(await series('switchyard_llm_requests_total'), { kind: 'chat', status: 'error' })?.value).toBeGreaterThanOrEqual(1);
  });
});
