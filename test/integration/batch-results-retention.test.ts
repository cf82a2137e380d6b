// Batch results wait in LLM_RESULTS until a runner has stored them, however long that takes. They used
// to wait in LLM_EVENTS, under its resume limits (EVENTS_MAX_AGE_SECONDS, EVENTS_MAX_BYTES shared with
// every tenant's streams): with no runner alive (or the database down) for longer than that, the
// results were gone and the batch never finished. Here LLM_EVENTS keeps events for 1 s, every line of
// a batch is answered while no runner runs, and the batch still completes once a runner starts.
// Runs on both backends: the runner is stopped in-process, so the embedded database stays open.
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { startBatchRunner } from '../../services/batch/runner.ts';
import { applyResults } from '../../services/batch/store.ts';
import { asyncConsumerNames, consumerNames, STREAMS } from '../../shared/nats/topology.ts';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ env: { EVENTS_MAX_AGE_SECONDS: '1', BATCH_LEASE_SECONDS: '2', BATCH_WINDOW: '64' } });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => stack?.close());

/** switchyard_batch_lines_total{outcome="completed"} from the ingress's /metrics (0 before the first). */
async function linesCompleted(): Promise<number> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('switchyard_batch_lines_total{outcome="completed"}'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** switchyard_results_backlog{kind="batch"} from the ingress's /metrics. */
async function resultsBacklog(): Promise<number | undefined> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('switchyard_results_backlog{kind="batch"}'));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

const runner = () => startBatchRunner({ config: stack.runtime.config, nats: stack.runtime.nats, db: stack.db, log: stack.runtime.log });

describe('batch results outlive the resume buffer', () => {
  it('completes a batch whose lines were all answered while no runner ran, long after LLM_EVENTS dropped them', async () => {
    const N = 12;
    const lines = Array.from({ length: N }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `q${i}\nmock:{"ttft_ms":600,"text":"a${i}"}` }] },
      }),
    );
    const { jsm } = stack.runtime.nats;
    const first = await runner();
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'wait.jsonl'), purpose: 'batch' });
    const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    // Every line published (the window is larger than the batch), then the runner goes away.
    await waitFor(
      async () => {
        const c = await jsm.consumers.info(STREAMS.requests, consumerNames.worker('openai', 'batch'));
        return c.num_pending === 0 && c.delivered.consumer_seq >= N;
      },
      { what: `${N} lines handed to the worker` },
    );
    await first.close();

    // The worker answers every line meanwhile (one usage row each), and LLM_EVENTS lets them go.
    await waitFor(
      async () => (await stack.db.selectFrom('usage').select('request_id').where('batch_id', '=', b.id).execute()).length === N,
      {
        timeoutMs: 15_000,
        what: `${N} lines answered`,
      },
    );
    await waitFor(
      async () =>
        Object.keys((await jsm.streams.info(STREAMS.events, { subjects_filter: 'llm.evt.batch.>' })).state.subjects ?? {}).length === 0,
      {
        timeoutMs: 10_000,
        what: 'LLM_EVENTS to drop the batch events (max age 1 s)',
      },
    );
    const waiting = await client.batches.retrieve(b.id);
    expect(waiting.status).toBe('in_progress');
    expect(waiting.request_counts!.completed).toBe(0);
    expect((await jsm.consumers.info(STREAMS.results, asyncConsumerNames.batchResults)).num_pending).toBe(N);
    // What an operator sees meanwhile (sampled at most every 2 s).
    await waitFor(async () => (await resultsBacklog()) === N, { what: `switchyard_results_backlog{kind="batch"} ${N}` });

    // One line's result already stored (by a runner that died before acking its message): the
    // runner's copy of it is a duplicate, stored and counted once.
    const early = { batchId: b.id, index: 1, statusCode: 200, body: JSON.stringify({ object: 'chat.completion', choices: [] }) };
    expect(await applyResults(stack.db, [early])).toEqual({ completed: 1, failed: 0 });
    expect(await applyResults(stack.db, [early])).toEqual({ completed: 0, failed: 0 });
    const countedBefore = await linesCompleted();
    const second = await runner();
    try {
      const done = await waitFor(
        async () => {
          const x = await client.batches.retrieve(b.id);
          return x.status === 'completed' ? x : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200, what: 'batch completed by the second runner' },
      );
      expect(done.request_counts).toEqual({ total: N, completed: N, failed: 0 });
      const out = (await (await client.files.content(done.output_file_id!)).text()).trimEnd().split('\n');
      expect(out.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id).sort()).toEqual(lines.map((_, i) => `line-${i}`).sort());
      expect((await linesCompleted()) - countedBefore).toBe(N - 1);
      // Stored, so deleted: the work queue keeps nothing it no longer needs.
      await waitFor(async () => (await jsm.streams.info(STREAMS.results)).state.messages === 0, { what: 'LLM_RESULTS emptied' });
      await waitFor(async () => (await resultsBacklog()) === 0, { what: 'the results backlog back to 0' });
    } finally {
      await second.close();
    }
  });
});
