// A batch whose step keeps failing (here: its stored input file is corrupt) ends, instead of retrying
// once a second forever: `failed` with an OpenAI-shaped `errors` list after bounded retries, or
// `cancelled` when the client cancelled it; it is logged once at warn and once at error; its input
// file can then be deleted. Cancel works in validating and finalizing too.
import { Writable } from 'node:stream';
import OpenAI, { toFile } from 'openai';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { startBatchRunner, type BatchRunner } from '../../services/batch/runner.ts';
import type { SwitchyardConfig } from '../../shared/config/env.ts';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ batch: false, env: { BATCH_WINDOW: '8', BATCH_STEP_MAX_ATTEMPTS: '3', BATCH_STEP_RETRY_MS: '50' } });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => stack?.close());

interface LogLine {
  level: number;
  msg: string;
  batchId?: string;
}

/** A runner of this test's own, with its log lines captured. */
async function runner(config: Partial<SwitchyardConfig> = {}): Promise<{ runner: BatchRunner; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) logs.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  const r = await startBatchRunner({
    config: { ...stack.runtime.config, ...config },
    nats: stack.runtime.nats,
    db: stack.db,
    log: pino({ level: 'info' }, sink),
    pollMs: 50,
  });
  return { runner: r, logs };
}

const chatLine = (i: number) =>
  JSON.stringify({
    custom_id: `c-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `q${i}` }] },
  });

async function upload(n: number) {
  const lines = Array.from({ length: n }, (_, i) => chatLine(i));
  return client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' });
}

/** Overwrites the stored bytes so that reading the lines back fails. */
async function corrupt(fileId: string) {
  await stack.db
    .updateTable('file_chunks')
    .set({ data: Buffer.from('{"custom_id": broken\n{"custom_id": broken\n') })
    .where('file_id', '=', fileId)
    .execute();
}

async function settled(id: string, timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const b = await client.batches.retrieve(id);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(b.status) ? b : undefined;
    },
    { timeoutMs, intervalMs: 50, what: `batch ${id} to end` },
  );
}

describe('batch step failures', () => {
  it('fails the batch after bounded retries, with OpenAI-shaped errors, logged once at warn and once at error', async () => {
    const file = await upload(3);
    await corrupt(file.id);
    const { runner: r, logs } = await runner();
    try {
      const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const done = await settled(b.id);
      expect(done.status).toBe('failed');
      expect(done.failed_at).toBeGreaterThan(0);
      expect(done.errors).toMatchObject({ object: 'list', data: [{ code: 'batch_failed', message: expect.stringMatching(/3 attempts/) }] });
      // Nothing keeps retrying after the give-up.
      await new Promise((res) => setTimeout(res, 300));
      const mine = logs.filter((l) => l.batchId === b.id && l.level >= 40);
      expect(mine.map((l) => [l.level, l.msg])).toEqual([
        [40, 'batch step failed; retrying'],
        [50, 'batch step failed; giving up'],
      ]);
      await expect(client.files.delete(file.id)).resolves.toMatchObject({ id: file.id, deleted: true });
    } finally {
      await r.close();
    }
  });

  it('a cancel reaches cancelled within the grace while the step keeps failing', async () => {
    const file = await upload(3);
    await corrupt(file.id);
    const { runner: r, logs } = await runner({ BATCH_STEP_MAX_ATTEMPTS: 1_000, BATCH_CANCEL_GRACE_MS: 1_000 });
    try {
      const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      await waitFor(() => logs.some((l) => l.batchId === b.id && l.msg === 'batch step failed; retrying'), { what: 'a failing step' });
      const cancelling = await client.batches.cancel(b.id);
      expect(cancelling.status).toBe('cancelling');
      const started = Date.now();
      const done = await settled(b.id);
      expect(done.status).toBe('cancelled');
      expect(Date.now() - started).toBeLessThan(10_000);
      await expect(client.files.delete(file.id)).resolves.toMatchObject({ deleted: true });
    } finally {
      await r.close();
    }
  });

  it('cancels a batch that is still validating or already finalizing', async () => {
    const file = await upload(2);
    const validating = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(validating.status).toBe('validating');
    const finalizing = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await stack.db
      .updateTable('batches')
      .set({ status: 'finalizing', finalizing_at: new Date() })
      .where('id', '=', finalizing.id)
      .execute();
    expect((await client.batches.cancel(validating.id)).status).toBe('cancelling');
    expect((await client.batches.cancel(finalizing.id)).status).toBe('cancelling');
    // Cancelling twice answers with the batch, not an error.
    expect((await client.batches.cancel(finalizing.id)).status).toBe('cancelling');
    const { runner: r } = await runner();
    try {
      for (const id of [validating.id, finalizing.id]) {
        const done = await settled(id);
        expect(done.status).toBe('cancelled');
        expect(done.request_counts).toMatchObject({ total: 2, completed: 0 });
      }
      await expect(client.files.delete(file.id)).resolves.toMatchObject({ deleted: true });
    } finally {
      await r.close();
    }
  });
});
