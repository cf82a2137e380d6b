// Local execution in the one-process layout (shared/runtime/local-execution.ts): the process runs the
// interactive requests it stores without nats-server delivering them back, purges their held copies
// once they ended, and when it is SIGKILLed, the next instance on the same database (services/all/
// rescuer.ts) runs again what had not ended, and only that. Real nats-server, the process as
// `node services/all/main.ts`, on the embedded PGlite or on Postgres (the run's backend).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MsgHdrs } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { allInOneArgs } from '../harness/npm-scripts.ts';
import { createDatabase } from '../harness/postgres.ts';
import { currentBackend } from '../harness/stack.ts';
import { startMockProviders, type MockProviders } from '../../services/mock-providers/server.ts';
import { connectNats, type Nats } from '../../shared/nats/connection.ts';
import { consumerNames, STREAMS, subjects } from '../../shared/nats/topology.ts';
import { AckPolicy, DiscardPolicy } from '@nats-io/jetstream';
import { decodeRequestEnvelope } from '../../shared/nats/request-envelope.ts';
import { openDatabase } from '../../shared/db/database.ts';

const API_KEY = `sk-local-${randomBytes(6).toString('hex')}`;
let natsServer: NatsServer;
let nats: Nats;
let mock: MockProviders;
let dataDir: string;
let databaseUrl: string | undefined;
let port: number;
const procs: ChildProcess[] = [];

beforeAll(async () => {
  natsServer = await startNatsServer();
  nats = await connectNats(natsServer.url, 'local-execution-test');
  mock = await startMockProviders({ recordLast: 200 });
  dataDir = mkdtempSync(join(tmpdir(), 'sy-local-'));
  if (currentBackend() === 'postgres') databaseUrl = await createDatabase(inject('databaseUrl')!, `sy_${randomBytes(5).toString('hex')}`);
  port = await freePort();
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await nats?.nc.close();
  await mock?.close();
  await natsServer?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startAllInOne(extraEnv: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(DATABASE_URL|[A-Z]+_API_KEY|[A-Z]+_BASE_URL|LOCAL_\w+)$/.test(k)) env[k] = v;
  Object.assign(env, {
    NATS_URL: natsServer.url,
    SWITCHYARD_DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    OPENAI_BASE_URL: `${mock.url}/v1`,
    OPENAI_API_KEY: 'sk-upstream-test',
    BOOTSTRAP_API_KEY: API_KEY,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    // How long an instance must stay silent before its held requests are taken over.
    WORKER_ACK_WAIT_SECONDS: '2',
    // The dead instance's ledger may hold the last usage records unacked; they come back after this.
    LEDGER_ACK_WAIT_SECONDS: '2',
    ...extraEnv,
  });
  let out = '';
  const child = spawn(process.execPath, allInOneArgs(), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  procs.push(child);
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`services/all exited: ${out}`);
      return (await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } }).catch(() => null))?.ok;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: 'services/all answering' },
  );
  return child;
}

function chat(content: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }),
  });
}

async function heldSubjects(): Promise<Record<string, number>> {
  const info = await nats.jsm.streams.info(STREAMS.requests, { subjects_filter: subjects.heldAll });
  return info.state.subjects ?? {};
}

/** Usage rows of the test's tenant, read through the ledger's API (/v1/usage), so also from the child's PGlite. */
async function usageRows(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/usage`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  const { data } = (await res.json()) as { data: Array<{ requests: number | string }> };
  return data.reduce((sum, d) => sum + Number(d.requests), 0);
}

/** The sequence of the newest message LLM_USAGE has taken (its records go once the ledger acks them). */
async function usageSeq(): Promise<number> {
  return (await nats.jsm.streams.info(STREAMS.usage)).state.last_seq;
}

/** Waits until LLM_USAGE takes a message after `seq` (the worker publishes a record a linger after the answer). */
async function usageStoredAfter(seq: number): Promise<void> {
  await waitFor(async () => (await usageSeq()) > seq, { timeoutMs: 5_000, intervalMs: 5, what: 'the next usage record' });
}

/** Upstream calls whose last message contains `marker`. */
function upstreamCalls(marker: string): number {
  return mock.requests.filter((r) => JSON.stringify(r.body).includes(marker)).length;
}

it('runs its requests without a delivery, leaves nothing held, and after a SIGKILL reruns only what had not ended', async () => {
  const first = await startAllInOne();
  const consumer = () => nats.jsm.consumers.info(STREAMS.requests, consumerNames.worker('openai', 'interactive'));
  const deliveredBefore = (await consumer()).delivered.consumer_seq;

  // Ten answers, none of them delivered by the worker consumer; their held copies are purged.
  const [usageSeqBefore, rowsBefore] = [await usageSeq(), await usageRows()];
  for (let i = 0; i < 10; i++) expect((await chat(`plain ${i}`)).status).toBe(200);
  expect((await consumer()).delivered.consumer_seq).toBe(deliveredBefore);
  await waitFor(async () => Object.keys(await heldSubjects()).length === 0, { timeoutMs: 5_000, what: 'held copies purged' });
  // Their usage rows went in through the ledger of the same process, not through LLM_USAGE.
  await waitFor(async () => (await usageRows()) === rowsBefore + 10, { timeoutMs: 5_000, what: 'ten usage rows' });
  expect(await usageSeq()).toBe(usageSeqBefore);

  // Two requests in the same second: a slow one still upstream, a fast one answered. The fast one
  // ended, but its held second is not purged while the slow one runs.
  await waitFor(() => Date.now() % 1000 < 200, { timeoutMs: 2_000, intervalMs: 5, what: 'the start of a second' });
  const slow = chat('slow one\nmock:{"ttft_ms":3000}').catch(() => null);
  await waitFor(() => mock.stats.active === 1, { timeoutMs: 2_000, intervalMs: 5, what: 'the slow request upstream' });
  const rowsBeforeFast = await usageRows();
  expect((await chat('fast one')).status).toBe(200);
  const held = await heldSubjects();
  expect(Object.values(held), JSON.stringify(held)).toEqual([2]);
  const [subject] = Object.keys(held);
  const ids: Record<string, string> = {};
  let slowCopy: { header: MsgHdrs; data: Uint8Array } | undefined;
  for (const seq of [1, 2]) {
    const last = (await nats.jsm.streams.info(STREAMS.requests)).state.last_seq;
    const m = (await nats.jsm.streams.getMessage(STREAMS.requests, { seq: last - 2 + seq }))!;
    expect(m.subject).toBe(subject);
    // Held copies carry no message id: nats-server keeps none for them through its dedupe window.
    expect(m.header.get('Nats-Msg-Id')).toBe('');
    const isSlow = new TextDecoder().decode(m.data).includes('slow one');
    if (isSlow) slowCopy = { header: m.header as MsgHdrs, data: m.data };
    ids[isSlow ? 'slow' : 'fast'] = decodeRequestEnvelope(m.header as MsgHdrs)!.requestId;
  }
  expect(Object.keys(ids).sort()).toEqual(['fast', 'slow']);
  // The fast one ended: its usage row is in the ledger (the worker inserts it a linger after the answer).
  await waitFor(async () => (await usageRows()) > rowsBeforeFast, { timeoutMs: 5_000, intervalMs: 5, what: "the fast one's usage row" });

  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  await slow;
  expect(upstreamCalls('slow one')).toBe(1);
  expect(upstreamCalls('fast one')).toBe(1);
  // A second copy of the slow one, as a publish retried after a lost ack stores it: the rescuer
  // re-queues both under one message id, so it still runs once more, not twice.
  await nats.js.publish(subject!, slowCopy!.data, { headers: slowCopy!.header });
  expect(Object.values(await heldSubjects())).toEqual([3]);

  // The next instance (a new ingress id) takes the dead one's held requests over after the grace.
  const second = await startAllInOne();
  await waitFor(async () => Object.keys(await heldSubjects()).length === 0 && upstreamCalls('slow one') === 2 && mock.stats.active === 0, {
    timeoutMs: 45_000,
    what: 'the slow request rerun and nothing held',
  });
  expect(upstreamCalls('fast one')).toBe(1);
  // Its redelivery went through the worker consumer, as after a crash.
  expect((await consumer()).delivered.consumer_seq).toBe(deliveredBefore + 1);

  // Each request is in the ledger once; the rerun counts its first run as an attempt.
  await new Promise((r) => setTimeout(r, 500));
  expect(upstreamCalls('slow one')).toBe(2);
  expect((await consumer()).delivered.consumer_seq).toBe(deliveredBefore + 1);
  second.kill('SIGTERM');
  await new Promise((r) => second.once('exit', r));
  const db = await openDatabase(databaseUrl ? { url: databaseUrl } : { embeddedDir: join(dataDir, 'pglite') });
  try {
    const rows = await db
      .selectFrom('usage')
      .select(['request_id', 'status', 'attempts'])
      .where('request_id', 'in', [ids.slow!, ids.fast!])
      .execute();
    const byId = Object.fromEntries(rows.map((r) => [r.request_id, r]));
    expect(byId[ids.fast!]).toMatchObject({ status: 'ok', attempts: 1 });
    expect(byId[ids.slow!]).toMatchObject({ status: 'ok' });
    expect(byId[ids.slow!]!.attempts).toBeGreaterThanOrEqual(2);
  } finally {
    await db.destroy();
  }
}, 120_000);

it('re-queues a request whose usage could not be published, as the redelivery a consumer would have made', async () => {
  // Usage through LLM_USAGE (LOCAL_USAGE=0), which the test can make refuse records. The direct
  // insert falls back to LLM_USAGE and fails a record only when both did (usage-direct.test.ts); the
  // worker then handles the failure as here.
  const proc = await startAllInOne({ LOCAL_USAGE: '0' });
  const consumer = () => nats.jsm.consumers.info(STREAMS.requests, consumerNames.worker('openai', 'interactive'));
  // LLM_USAGE deletes a record once every consumer acked it (interest retention): a consumer that
  // never acks keeps the records below in it, so the stream can be made full.
  await nats.jsm.consumers.add(STREAMS.usage, {
    durable_name: 'test-holder',
    ack_policy: AckPolicy.Explicit,
    filter_subject: 'llm.usage.>',
  });
  const seqBefore = await usageSeq();
  const before = await chat('before the block');
  expect(before.status).toBe(200);
  await usageStoredAfter(seqBefore);
  const deliveredBefore = (await consumer()).delivered.consumer_seq;
  // LLM_USAGE refuses every new record (full, discarding new ones) until restored.
  const { config } = await nats.jsm.streams.info(STREAMS.usage);
  const { retention: _r, storage: _s, ...mutable } = config;
  const stored = (await nats.jsm.streams.info(STREAMS.usage)).state.messages;
  await nats.jsm.streams.update(STREAMS.usage, { ...mutable, discard: DiscardPolicy.New, max_msgs: stored });
  await waitFor(async () => Object.keys(await heldSubjects()).length === 0, { what: 'earlier held copies purged' });
  const res = await chat('usage blocked');
  const requestId = res.headers.get('x-request-id')!;
  let restored = false;
  try {
    expect(res.status).toBe(200);
    // The worker gives its usage record up after its retries (about 6 s); the request is then
    // published on the worker subject and delivered as a second attempt, still held until then.
    expect(Object.keys(await heldSubjects())).toHaveLength(1);
    await waitFor(async () => (await consumer()).delivered.consumer_seq > deliveredBefore, {
      timeoutMs: 40_000,
      what: 'the re-queued delivery',
    });
    await nats.jsm.streams.update(STREAMS.usage, mutable);
    restored = true;
  } finally {
    if (!restored) await nats.jsm.streams.update(STREAMS.usage, mutable);
    await nats.jsm.consumers.delete(STREAMS.usage, 'test-holder');
  }
  await waitFor(async () => Object.keys(await heldSubjects()).length === 0 && (await consumer()).num_ack_pending === 0, {
    timeoutMs: 30_000,
    what: 'the redelivery acked and nothing held',
  });
  expect(upstreamCalls('usage blocked')).toBe(2);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  const db = await openDatabase(databaseUrl ? { url: databaseUrl } : { embeddedDir: join(dataDir, 'pglite') });
  try {
    const row = await db.selectFrom('usage').select(['status', 'attempts']).where('request_id', '=', requestId).executeTakeFirstOrThrow();
    expect(row.status).toBe('ok');
    expect(row.attempts).toBeGreaterThanOrEqual(2);
  } finally {
    await db.destroy();
  }
}, 120_000);

it('starts a request while it is stored, and stops it without a re-run when the store is refused', async () => {
  const proc = await startAllInOne();
  const consumer = () => nats.jsm.consumers.info(STREAMS.requests, consumerNames.worker('openai', 'interactive'));
  await waitFor(async () => Object.keys(await heldSubjects()).length === 0, { what: 'earlier held copies purged' });
  const deliveredBefore = (await consumer()).delivered.consumer_seq;
  // LLM_REQUESTS refuses messages over 2 KB: the store of the request below fails after its run began.
  const { config } = await nats.jsm.streams.info(STREAMS.requests);
  const { retention: _r, storage: _s, ...mutable } = config;
  await nats.jsm.streams.update(STREAMS.requests, { ...mutable, max_msg_size: 2048 });
  let res: Response;
  try {
    res = await chat(`refused store ${'x'.repeat(4096)}\nmock:{"ttft_ms":3000}`);
  } finally {
    await nats.jsm.streams.update(STREAMS.requests, mutable);
  }
  const requestId = res.headers.get('x-request-id')!;
  expect(res.status).toBe(503);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
  // The run may have reached the upstream before the refusal came back (the overlap this is for; on
  // a fast loopback the refusal often wins): either way it was stopped long before the 3 s answer.
  const calls = upstreamCalls('refused store');
  expect(calls).toBeLessThanOrEqual(1);
  await waitFor(() => mock.stats.active === 0, { timeoutMs: 1_500, intervalMs: 10, what: 'the upstream call aborted' });
  // Nothing stored, so nothing to run again: no re-queue, no delivery, nothing held.
  await new Promise((r) => setTimeout(r, 1_500));
  expect(upstreamCalls('refused store')).toBe(calls);
  expect((await consumer()).delivered.consumer_seq).toBe(deliveredBefore);
  expect(Object.keys(await heldSubjects())).toHaveLength(0);
  // The next request is stored and answered as usual.
  expect((await chat('after the refusal')).status).toBe(200);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  // What the stopped run cost is in the ledger, as cancelled (the upstream may have produced tokens).
  const db = await openDatabase(databaseUrl ? { url: databaseUrl } : { embeddedDir: join(dataDir, 'pglite') });
  try {
    const row = await db.selectFrom('usage').select(['status']).where('request_id', '=', requestId).executeTakeFirstOrThrow();
    expect(row.status).toBe('cancelled');
  } finally {
    await db.destroy();
  }
}, 120_000);
