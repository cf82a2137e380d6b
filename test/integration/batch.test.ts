// Batch API end to end through the official openai SDK, against real NATS + Postgres: upload,
// create, poll, download, and every output line checked against OpenAI's format; several providers
// in one batch; validation; pagination; cancel; expiry; tenant isolation; usage tagged with batch id.
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { createKey, createTenant } from '../../shared/db/tenants.ts';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({
    batch: true,
    env: { BATCH_WINDOW: '8' },
    providerEnv: (mock) => ({
      ANTHROPIC_BASE_URL: `${mock}/anthropic`,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      GEMINI_BASE_URL: `${mock}/gemini/v1beta`,
      GEMINI_API_KEY: 'gem-test',
      OLLAMA_BASE_URL: `${mock}/ollama`,
    }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => stack?.close());

interface OutputLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

const chatLine = (customId: string, model: string, content: string) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content }] },
  });

async function upload(lines: string[], c = client) {
  return c.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
}

async function runToEnd(id: string, c = client, timeoutMs = 30_000) {
  return waitFor(
    async () => {
      const b = await c.batches.retrieve(id);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(b.status) ? b : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `batch ${id} to finish` },
  );
}

async function download(fileId: string, c = client): Promise<OutputLine[]> {
  const text = await (await c.files.content(fileId)).text();
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as OutputLine);
}

describe('Batch API through the openai SDK', () => {
  it('uploads, runs, and writes output and error files in OpenAI format, billing each line once', async () => {
    const lines = [
      chatLine('req-1', 'openai/gpt-4o-mini', 'first\nmock:{"text":"answer one"}'),
      chatLine('req-2', 'openai/gpt-4o-mini', 'second\nmock:{"text":"answer two"}'),
      chatLine('req-3', 'openai/gpt-4o-mini', 'bad\nmock:{"error":{"status":400,"message":"nope"}}'),
      chatLine('req-4', 'openai/gpt-4o-mini', 'fourth\nmock:{"tokens":5}'),
    ];
    const file = await upload(lines);
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'input.jsonl', status: 'processed' });
    expect(file.bytes).toBe(Buffer.byteLength(lines.join('\n') + '\n'));
    expect(await client.files.retrieve(file.id)).toMatchObject({ id: file.id, bytes: file.bytes });
    expect(await (await client.files.content(file.id)).text()).toBe(lines.join('\n') + '\n');

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { job: 'nightly' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      endpoint: '/v1/chat/completions',
      input_file_id: file.id,
      completion_window: '24h',
      status: 'validating',
      metadata: { job: 'nightly' },
      request_counts: { total: 4, completed: 0, failed: 0 },
      output_file_id: null,
      error_file_id: null,
    });
    expect(created.id).toMatch(/^batch_/);
    expect(created.expires_at! - created.created_at).toBe(24 * 3600);

    const done = await runToEnd(created.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
    for (const k of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) expect(done[k]).toBeGreaterThanOrEqual(done.created_at);

    const out = await download(done.output_file_id!);
    expect(out.map((l) => l.custom_id)).toEqual(['req-1', 'req-2', 'req-4']);
    for (const l of out) {
      expect(Object.keys(l).sort()).toEqual(['custom_id', 'error', 'id', 'response']);
      expect(l.id).toMatch(/^batch_req_[0-9a-f]{24}$/);
      expect(l.error).toBeNull();
      expect(Object.keys(l.response!).sort()).toEqual(['body', 'request_id', 'status_code']);
      expect(l.response!.status_code).toBe(200);
      expect(l.response!.body).toMatchObject({ object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop' }] });
      expect(l.response!.body.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    }
    const contentOf = (l: OutputLine) => (l.response!.body.choices as Array<{ message: { content: string } }>)[0]!.message.content;
    expect(contentOf(out[0]!)).toBe('answer one');
    expect(contentOf(out[1]!)).toBe('answer two');
    expect(contentOf(out[2]!)).toBe('tok0 tok1 tok2 tok3 tok4');

    const errs = await download(done.error_file_id!);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({
      custom_id: 'req-3',
      error: null,
      response: { status_code: 400, body: { error: { message: expect.stringContaining('nope') } } },
    });
    const outFile = await client.files.retrieve(done.output_file_id!);
    expect(outFile).toMatchObject({ purpose: 'batch_output', filename: `${done.id}_output.jsonl` });

    // One usage row per line, tagged with the batch, keyed by the line's deterministic request id.
    const rows = await waitFor(async () => {
      const r = await stack.db.selectFrom('usage').selectAll().where('batch_id', '=', done.id).execute();
      return r.length >= 4 ? r : undefined;
    });
    expect(rows.map((r) => r.request_id).sort()).toEqual([1, 2, 3, 4].map((i) => `${done.id}-${i}`));
    expect(new Set(out.map((l) => l.response!.request_id))).toEqual(new Set([`${done.id}-1`, `${done.id}-2`, `${done.id}-4`]));

    // The batch is listed, its input file cannot be deleted while running but can after.
    const deleted = await client.files.delete(file.id);
    expect(deleted).toMatchObject({ id: file.id, deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it('runs one batch across openai, anthropic, gemini and ollama', async () => {
    const models = ['openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5', 'gemini/gemini-2.5-flash', 'ollama/llama3.2'];
    const lines = models.flatMap((m, i) => [0, 1].map((j) => chatLine(`${m}#${j}`, m, `hi\nmock:{"text":"from ${i}-${j}"}`)));
    const file = await upload(lines);
    const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await runToEnd(b.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 8, completed: 8, failed: 0 });
    expect(done.error_file_id).toBeNull();
    const out = await download(done.output_file_id!);
    expect(out).toHaveLength(8);
    models.forEach((m, i) =>
      [0, 1].forEach((j) => {
        const l = out.find((o) => o.custom_id === `${m}#${j}`)!;
        expect(l.response!.status_code).toBe(200);
        expect((l.response!.body.choices as Array<{ message: { content: string } }>)[0]!.message.content).toBe(`from ${i}-${j}`);
      }),
    );
    const rows = await waitFor(async () => {
      const r = await stack.db.selectFrom('usage').select(['provider']).where('batch_id', '=', done.id).execute();
      return r.length >= 8 ? r : undefined;
    });
    expect(new Set(rows.map((r) => r.provider))).toEqual(new Set(['openai', 'anthropic', 'gemini', 'ollama']));
  });

  it('rejects an invalid input file naming the line, and mismatched endpoints', async () => {
    const bad = [
      chatLine('a', 'openai/gpt-4o-mini', 'x'),
      '{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"messages":[]}}',
    ];
    await expect(upload(bad)).rejects.toMatchObject({ status: 400, message: expect.stringContaining('line 2') });
    await expect(upload([chatLine('a', 'openai/gpt-4o-mini', 'x'), 'not json'])).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('line 2: not valid JSON'),
    });
    await expect(upload([chatLine('dup', 'openai/gpt-4o-mini', 'x'), chatLine('dup', 'openai/gpt-4o-mini', 'y')])).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("duplicate custom_id 'dup'"),
    });
    const ok = await upload([chatLine('a', 'openai/gpt-4o-mini', 'x')]);
    await expect(
      client.batches.create({ input_file_id: ok.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
    ).rejects.toMatchObject({
      status: 400,
    });
    await expect(
      client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('lists batches newest first with limit/after and has_more', async () => {
    const file = await upload([chatLine('a', 'openai/gpt-4o-mini', 'x')]);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    const res = await fetch(`${stack.url}/v1/batches?limit=2`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const page1 = (await res.json()) as { data: Array<{ id: string }>; has_more: boolean; last_id: string; first_id: string };
    expect(page1.data.map((b) => b.id)).toEqual([ids[2], ids[1]]);
    expect(page1.has_more).toBe(true);
    expect(page1.first_id).toBe(ids[2]);
    // The SDK's auto-pagination walks every page.
    const all: string[] = [];
    for await (const b of client.batches.list({ limit: 2 })) all.push(b.id);
    expect(all.slice(0, 3)).toEqual([ids[2], ids[1], ids[0]]);
    expect(new Set(all).size).toBe(all.length);
    for (const id of ids) await runToEnd(id);
  });

  it('cancels: running lines finish, the rest go to the error file as batch_cancelled', async () => {
    stack.mock.reset();
    const lines = Array.from({ length: 40 }, (_, i) =>
      chatLine(`c${i}`, 'openai/gpt-4o-mini', `slow\nmock:{"ttft_ms":300,"text":"ok ${i}"}`),
    );
    const file = await upload(lines);
    const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(async () => (await client.batches.retrieve(b.id)).request_counts!.completed >= 1, { what: 'first line done' });
    const cancelling = await client.batches.cancel(b.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const done = await runToEnd(b.id);
    expect(done.status).toBe('cancelled');
    expect(done.cancelled_at).toBeGreaterThan(0);
    const out = done.output_file_id ? await download(done.output_file_id) : [];
    const errs = await download(done.error_file_id!);
    expect(out.length + errs.length).toBe(40);
    expect(out.length).toBe(done.request_counts!.completed);
    expect(out.length).toBeLessThan(30); // the window (8) bounds what still ran after the cancel
    for (const e of errs) expect(e).toMatchObject({ response: null, error: { code: 'batch_cancelled' } });
    expect(stack.mock.stats.byRoute['openai.chat']).toBe(out.length);
    await expect(client.batches.cancel(b.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('expires a batch past its completion window', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => chatLine(`e${i}`, 'openai/gpt-4o-mini', `slow\nmock:{"ttft_ms":200}`));
    const file = await upload(lines);
    const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(async () => (await client.batches.retrieve(b.id)).status === 'in_progress', { what: 'in progress' });
    await stack.db
      .updateTable('batches')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', b.id)
      .execute();
    const done = await runToEnd(b.id);
    expect(done.status).toBe('expired');
    expect(done.expired_at).toBeGreaterThan(0);
    const errs = await download(done.error_file_id!);
    expect(errs.filter((e) => e.error?.code === 'batch_expired').length).toBeGreaterThan(0);
  });

  it('keeps tenants apart', async () => {
    const file = await upload([chatLine('a', 'openai/gpt-4o-mini', 'x')]);
    const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const tenant = await createTenant(stack.db, { name: 'other' });
    const key = (await createKey(stack.db, tenant.id, {}))!.key;
    const other = new OpenAI({ apiKey: key, baseURL: `${stack.url}/v1`, maxRetries: 0 });
    await expect(other.batches.retrieve(b.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.batches.cancel(b.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.files.content(file.id)).rejects.toMatchObject({ status: 404 });
    const mine = [];
    for await (const x of other.batches.list()) mine.push(x);
    expect(mine).toHaveLength(0);
    await runToEnd(b.id);
  });
});
