// A batch runner claims a new batch when the ingress announces it (llm.ctl.batch.created), and the
// next waiting batch when one of its own ends, not at its next claim poll: the poll is slow (2 s by
// default) since at 200 ms it was most of what an idle broker did. Here the poll is a minute, so only
// the announcement and the freed slot can start the batches in time.
import OpenAI, { toFile } from 'openai';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { startBatchRunner, type BatchRunner } from '../../services/batch/runner.ts';

let stack: Stack;
let client: OpenAI;
let runner: BatchRunner;

beforeAll(async () => {
  stack = await startStack({ batch: false });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
  runner = await startBatchRunner({
    config: stack.runtime.config,
    nats: stack.runtime.nats,
    db: stack.db,
    log: pino({ level: 'silent' }),
    pollMs: 50,
    claimMs: 60_000,
    maxActive: 1,
  });
});
afterAll(async () => {
  await runner?.close();
  await stack?.close();
});

async function createBatch(lines: number) {
  const body = Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      custom_id: `c-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `q${i}` }] },
    }),
  ).join('\n');
  const file = await client.files.create({ file: await toFile(Buffer.from(`${body}\n`), 'in.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

const completed = (id: string) =>
  waitFor(
    async () => {
      const b = await client.batches.retrieve(id);
      return b.status === 'completed' ? b : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 50, what: `batch ${id} to complete` },
  );

describe('batch claims', () => {
  it('starts a batch as soon as it is created, and the next one as soon as a slot is free', async () => {
    // The runner's first claim (at start) found nothing; its next poll is a minute away.
    await new Promise((r) => setTimeout(r, 200));
    const [first, second] = [await createBatch(3), await createBatch(3)];
    const done = await Promise.all([completed(first.id), completed(second.id)]);
    expect(done.map((b) => b.request_counts?.completed)).toEqual([3, 3]);
  });
});
