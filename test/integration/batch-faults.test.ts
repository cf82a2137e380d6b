// A batch survives kill -9 of every Switchyard process mid-batch (ingress, worker, ledger, batch
// runner): after restart it completes with every line executed into the output once and billed
// exactly once. Only NATS and Postgres stay up. On PGlite the one process of `npm start` is killed
// and restarted on the same data dir, as a user would hit it.
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../shared/db/database.ts';
import { currentBackend, openEmbeddedDatabase, startStack, type AllInOneService, type ChildService, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';

let stack: Stack;
let client: OpenAI;
const onPglite = currentBackend() === 'pglite';

beforeAll(async () => {
  // Every service is a child process this file SIGKILLs; short ack wait and lease so the restarted
  // ones take over quickly.
  stack = await startStack({
    ingress: false,
    ledger: false,
    worker: false,
    batch: false,
    // The ledger too: the usage it held unacked when killed comes back after its ack wait, which
    // (at the 30 s default) could outlast the wait for usage rows below when the batch finished fast.
    env: { WORKER_ACK_WAIT_SECONDS: '2', BATCH_LEASE_SECONDS: '2', BATCH_WINDOW: '64', LEDGER_ACK_WAIT_SECONDS: '2' },
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => stack?.close());

describe('batch with every process killed mid-batch', () => {
  it('completes after restart; one output line and one usage row per input line', async () => {
    const N = 300;
    const lines = Array.from({ length: N }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `q${i}\nmock:{"ttft_ms":40,"text":"a${i}"}` }] },
      }),
    );
    const all = async (): Promise<ChildService[]> =>
      onPglite
        ? [await stack.spawnAllInOne()]
        : Promise.all([stack.spawn('ingress'), stack.spawn('ledger'), stack.spawn('worker'), stack.spawn('batch')]);
    let procs = await all();
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'kill.jsonl'), purpose: 'batch' });
    const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(async () => (await client.batches.retrieve(b.id)).request_counts!.completed >= 40, { what: 'some lines done' });
    const mid = await client.batches.retrieve(b.id);
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    expect(mid.status).toBe('in_progress');
    expect(mid.request_counts!.completed).toBeLessThan(N);

    procs = await all();
    const done = await waitFor(
      async () => {
        const x = await client.batches.retrieve(b.id);
        return x.status === 'completed' ? x : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 200, what: 'batch completed after restart' },
    );
    expect(done.request_counts).toEqual({ total: N, completed: N, failed: 0 });
    expect(done.error_file_id).toBeNull();
    const out = (await (await client.files.content(done.output_file_id!)).text())
      .trimEnd()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            custom_id: string;
            response: { status_code: number; body: { choices: Array<{ message: { content: string } }> } };
          },
      );
    expect(out).toHaveLength(N);
    expect(new Set(out.map((l) => l.custom_id)).size).toBe(N);
    for (const l of out) {
      const i = Number(l.custom_id.slice(5));
      expect(l.response.body.choices[0]!.message.content).toBe(`a${i}`);
    }
    const db = onPglite ? await stopAndOpenEmbedded(procs[0] as AllInOneService, N) : stack.db;
    const rows = await waitFor(
      async () => {
        const r = await db.selectFrom('usage').select(['request_id', 'status']).where('batch_id', '=', b.id).execute();
        return r.length >= N ? r : undefined;
      },
      { timeoutMs: 15_000, what: `${N} usage rows` },
    );
    await new Promise((r) => setTimeout(r, 500));
    const again = await db.selectFrom('usage').select('request_id').where('batch_id', '=', b.id).execute();
    expect(again).toHaveLength(N);
    expect(new Set(rows.map((r) => r.request_id))).toEqual(new Set(Array.from({ length: N }, (_, i) => `${b.id}-${i + 1}`)));
    expect(rows.every((r) => r.status === 'ok')).toBe(true);
    await Promise.all(procs.map((p) => p.kill()));
    if (onPglite) await db.destroy();
  });
});

/**
 * The embedded database belongs to the all-in-one process: wait until the ledger has billed `lines`
 * requests (tenant usage API), stop the process cleanly, and open its PGlite here.
 */
async function stopAndOpenEmbedded(proc: AllInOneService, lines: number): Promise<Db> {
  await waitFor(
    async () => {
      const res = await fetch(`${proc.url}/v1/usage`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      const body = (await res.json()) as { data: Array<{ requests: number }> };
      return body.data.reduce((n, d) => n + d.requests, 0) >= lines;
    },
    { timeoutMs: 15_000, what: `${lines} requests billed` },
  );
  await proc.kill('SIGTERM');
  return openEmbeddedDatabase(proc.dataDir);
}
