// Content guardrails on the Batch API: the batch's tenant has a blocklist and a PII masker attached
// (admin API). Per line, as on POST /v1/chat/completions: a pre_call block fails that line alone
// (error file, usage row `blocked`), masked text is what the upstream receives, post_call checks the
// answer in the worker; embeddings lines are checked and masked on their `input`;
// a SIGHUP reload changes what the runner applies.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBatchRunner, type BatchRunner } from '../../services/batch/runner.ts';
import { waitFor } from '../harness/ports.ts';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';

const ADMIN = 'admin-test-key-batch-guardrails';
const GUARDRAILS = [
  'guardrails:',
  '  - {name: no-falcon, kind: blocklist, mode: [pre_call, post_call], keywords: [project falcon]}',
  '  - {name: pii, kind: pii, mode: [pre_call, post_call], on_fail: mask}',
];
let stack: Stack;
let runner: BatchRunner;
let client: OpenAI;
let configPath: string;

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  configPath = join(mkdtempSync(join(tmpdir(), 'sy-batch-guardrails-')), 'switchyard.yaml');
  writeFileSync(configPath, GUARDRAILS.join('\n'));
  stack = await startStack({ batch: false, env: { SWITCHYARD_CONFIG: configPath, ADMIN_API_KEY: ADMIN, BATCH_WINDOW: '8' } });
  // The runner of `npm run batch`, with the process's SIGHUP reload.
  runner = await startBatchRunner({
    config: stack.runtime.config,
    nats: stack.runtime.nats,
    db: stack.db,
    log: stack.runtime.log,
    pollMs: 50,
    reload: stack.runtime.reload,
  });
  const tenant = await admin('POST', '/tenants', { name: 'batch-guarded' });
  await admin('PUT', `/tenants/${String(tenant.id)}/guardrails`, { guardrails: ['no-falcon', 'pii'] });
  const key = await admin('POST', `/tenants/${String(tenant.id)}/keys`, {});
  client = new OpenAI({ apiKey: String(key.key), baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => {
  await runner?.close();
  await stack?.close();
});

interface OutputLine {
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
}
interface ErrorBody {
  error: { message: string; type: string; code: string | null };
}

const line = (customId: string, content: string) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] },
  });

async function run(lines: string[], endpoint: '/v1/chat/completions' | '/v1/embeddings' = '/v1/chat/completions', c = client) {
  const file = await c.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'in.jsonl'), purpose: 'batch' });
  const created = await c.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h' });
  const done = await waitFor(
    async () => {
      const b = await c.batches.retrieve(created.id);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(b.status) ? b : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `batch ${created.id} to finish` },
  );
  const read = async (id: string | null | undefined) =>
    id
      ? (await (await c.files.content(id)).text())
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as OutputLine)
      : [];
  const byId = new Map<string, OutputLine>();
  for (const l of [...(await read(done.output_file_id)), ...(await read(done.error_file_id))]) byId.set(l.custom_id, l);
  return { done, byId };
}

const contentOf = (l: OutputLine | undefined) => (l!.response!.body.choices as Array<{ message: { content: string } }>)[0]!.message.content;
const errorOf = (l: OutputLine | undefined) => (l!.response!.body as unknown as ErrorBody).error;

/** Every prompt the mock upstream received. */
const upstreamPrompts = () =>
  stack.mock.requests.flatMap((r) => ((r.body as { messages?: Array<{ content: unknown }> }).messages ?? []).map((m) => String(m.content)));

describe('Batch API with content guardrails', () => {
  it('blocks, masks and checks answers per line; the other lines succeed', async () => {
    stack.mock.reset();
    const { done, byId } = await run([
      line('blocked', 'Tell me everything about Project Falcon'),
      line('email', 'Write to ada.lovelace@example.com\nmock:{"text":"sent"}'),
      line('plain', 'hello\nmock:{"text":"hi there"}'),
      // The answer names the blocked project (escaped, so the prompt itself passes pre_call).
      line('answer', 'which project?\nmock:{"text":"It is project f\\u0061lcon."}'),
      line('answer-pii', 'contact?\nmock:{"text":"Reach bob\\u0040example.org"}'),
    ]);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 5, completed: 3, failed: 2 });

    const blocked = byId.get('blocked')!;
    expect(blocked.response!.status_code).toBe(400);
    expect(errorOf(blocked)).toMatchObject({ code: 'guardrail_blocked', type: 'invalid_request_error' });
    expect(errorOf(blocked).message).toContain("'no-falcon'");
    expect(upstreamPrompts().some((p) => /falcon/i.test(p))).toBe(false); // never reached the upstream

    expect(contentOf(byId.get('email'))).toBe('sent');
    expect(upstreamPrompts()).toContain('Write to [EMAIL]\nmock:{"text":"sent"}');
    expect(upstreamPrompts().some((p) => p.includes('ada.lovelace'))).toBe(false);

    expect(contentOf(byId.get('plain'))).toBe('hi there');
    expect(contentOf(byId.get('answer-pii'))).toBe('Reach [EMAIL]'); // post_call masks the answer

    const answer = byId.get('answer')!;
    expect(answer.response!.status_code).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'guardrail_blocked' });
    expect(errorOf(answer).message).toContain("'no-falcon'");

    // The refused line is in the ledger like chat's refusals, tagged with the batch.
    const row = await waitForUsageRow(stack.db, blocked.response!.request_id);
    expect(row).toMatchObject({ status: 'blocked', error_code: 'guardrail_blocked', batch_id: done.id, attempts: 0, input_tokens: 0 });
    expect(Number(row.cost_usd)).toBe(0);
    const post = await waitForUsageRow(stack.db, answer.response!.request_id);
    expect(post).toMatchObject({ status: 'error', error_code: 'guardrail_blocked', batch_id: done.id });
  });

  it('checks embeddings lines too: blocked text fails its line, an email reaches the upstream masked', async () => {
    stack.mock.reset();
    const emb = (customId: string, input: string | string[]) =>
      JSON.stringify({
        custom_id: customId,
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'openai/text-embedding-3-small', input },
      });
    const { done, byId } = await run(
      [emb('e1', 'mail ada.lovelace@example.com'), emb('e2', ['fine', 'all about project falcon'])],
      '/v1/embeddings',
    );
    expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    expect(byId.get('e1')!.response!.status_code).toBe(200);
    const inputs = stack.mock.requests.map((r) => JSON.stringify((r.body as { input?: unknown }).input));
    expect(inputs).toEqual(['"mail [EMAIL]"']);
    const e2 = byId.get('e2')!;
    expect(e2.response!.status_code).toBe(400);
    expect(errorOf(e2)).toMatchObject({ code: 'guardrail_blocked' });
    expect(errorOf(e2).message).toContain("'no-falcon'");
    const row = await waitForUsageRow(stack.db, e2.response!.request_id);
    expect(row).toMatchObject({ status: 'blocked', kind: 'embeddings', batch_id: done.id });
  });

  it("applies the guardrails attached to the batch's key, not only its tenant's", async () => {
    const tenant = await admin('POST', '/tenants', { name: 'batch-key-guarded' });
    const key = await admin('POST', `/tenants/${String(tenant.id)}/keys`, {});
    await admin('PUT', `/keys/${String(key.id)}/guardrails`, { guardrails: ['pii'] });
    const keyClient = new OpenAI({ apiKey: String(key.key), baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 30_000 });
    stack.mock.reset();
    const { byId } = await run([line('k1', 'I am eve@example.net\nmock:{"text":"noted"}')], '/v1/chat/completions', keyClient);
    expect(contentOf(byId.get('k1'))).toBe('noted');
    expect(upstreamPrompts()).toEqual(['I am [EMAIL]\nmock:{"text":"noted"}']);
  });

  it('follows a config reload (SIGHUP): a guardrail added to the defaults blocks the next batch', async () => {
    writeFileSync(
      configPath,
      [
        ...GUARDRAILS,
        '  - {name: no-eagle, kind: blocklist, mode: pre_call, keywords: [project eagle]}',
        'default_guardrails: [no-eagle]',
      ].join('\n'),
    );
    expect(await stack.runtime.reload.reload()).toBe(true);
    const { byId } = await run([line('eagle', 'what is project eagle?'), line('ok', 'fine\nmock:{"text":"ok"}')]);
    expect(byId.get('eagle')!.response!.status_code).toBe(400);
    expect(errorOf(byId.get('eagle')).message).toContain("'no-eagle'");
    expect(contentOf(byId.get('ok'))).toBe('ok');
  });
});
