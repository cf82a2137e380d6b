// Scale-out on real engines: a 3-node NATS JetStream cluster on loopback with every stream R3, two
// ingress processes and three worker processes, load through both ingresses, then one NATS node (the
// leader of LLM_REQUESTS) and one worker are SIGKILLed mid-load. No accepted request may be lost or
// billed twice: every 200 has exactly one usage row, every 202 (async) completes and is billed once,
// and the daily rollup counts each request once. Throughput before, during and after is printed
// (docs/scaling.md quotes it). Postgres only: several ingress processes share one database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { startNatsCluster, type NatsCluster } from '../harness/nats-server.ts';
import { startStack, type ChildService, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { STREAMS } from '../../shared/nats/topology.ts';

type Phase = 'before' | 'during' | 'after';
type Kind = 'chat' | 'stream' | 'async';
interface Outcome {
  phase: Phase;
  kind: Kind;
  status: number; // 0: no HTTP answer (connection refused, client timeout)
  id: string | null;
  /** Streams: the body ended with [DONE] and no error event; chat: a completion body. */
  complete: boolean;
  interrupted: boolean;
  ms: number;
  /** The error message of a refused request. */
  error?: string;
}

const PHASE_MS = { before: 6_000, during: 8_000, after: 6_000 };
const CONCURRENCY = 12;
const EXPECTED_STREAM = Array.from({ length: 8 }, (_, i) => `tok${i}`).join(' ');

let cluster: NatsCluster;
let stack: Stack;
const ingressUrls: string[] = [];
const ingresses: ChildService[] = [];
const workers: ChildService[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  await cluster.ready();
  stack = await startStack({
    backend: 'postgres',
    natsUrl: cluster.url,
    ingress: false,
    worker: false,
    env: {
      NATS_STREAM_REPLICAS: '3',
      // A killed worker's requests come back after this long (the default 30 s would outlast the test).
      WORKER_ACK_WAIT_SECONDS: '4',
      WORKER_MAX_RETRIES: '0',
    },
  });
  for (let i = 0; i < 2; i++) {
    const port = String(await freePort());
    ingresses.push(await stack.spawn('ingress', { PORT: port, LOG_LEVEL: 'info' }));
    ingressUrls.push(`http://127.0.0.1:${port}`);
  }
  for (let i = 0; i < 3; i++) workers.push(await stack.spawn('worker', { WORKER_PROVIDERS: 'openai' }));
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await cluster?.stop();
});

async function one(phase: Phase, kind: Kind, url: string): Promise<Outcome> {
  const started = Date.now();
  const body = {
    model: 'openai/gpt-4o-mini',
    ...(kind === 'stream' ? { stream: true } : {}),
    messages: [{ role: 'user', content: `load\nmock:{"tokens":8,"ttft_ms":20,"itl_ms":10}` }],
  };
  const out: Outcome = { phase, kind, status: 0, id: null, complete: false, interrupted: false, ms: 0 };
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.apiKey}`,
        'content-type': 'application/json',
        ...(kind === 'async' ? { prefer: 'respond-async' } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(45_000),
    });
    out.status = res.status;
    out.id = res.headers.get('x-request-id');
    const text = await res.text();
    if (res.status >= 400) {
      const error = (JSON.parse(text) as { error: { message: string; code: string | null } }).error;
      out.error = error.message.slice(0, 120);
      // The first worker's chunks went out through the killed NATS node before this ingress saw any;
      // the redelivery cannot replay them, so the stream ends before it started: an honest 502.
      out.interrupted = kind === 'stream' && res.status === 502 && error.code === 'stream_interrupted';
    }
    if (kind === 'async' && res.status === 202) out.id = (JSON.parse(text) as { id: string }).id;
    if (kind === 'stream' && res.status === 200) {
      out.interrupted = text.includes('"error"');
      // Every token, in order, once: no chunk lost or repeated across the failover.
      const tokens = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
      out.complete = !out.interrupted && tokens === EXPECTED_STREAM && text.trimEnd().endsWith('data: [DONE]');
      if (!out.complete) out.error = `${tokens} | ${text.slice(-300)}`;
    }
    if (kind === 'chat' && res.status === 200) out.complete = (JSON.parse(text) as { object: string }).object === 'chat.completion';
  } catch {
    // no answer: counted as status 0
  }
  out.ms = Date.now() - started;
  return out;
}

/** CONCURRENCY closed loops spread over both ingresses for `ms`; request kinds in a fixed mix. */
async function load(phase: Phase, ms: number, outcomes: Outcome[]): Promise<void> {
  const until = Date.now() + ms;
  const kinds: Kind[] = ['chat', 'chat', 'stream', 'chat', 'stream', 'async'];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, loop) => {
      for (let n = 0; Date.now() < until; n++) {
        const kind = kinds[(loop + n) % kinds.length]!;
        outcomes.push(await one(phase, kind, ingressUrls[(loop + n) % ingressUrls.length]!));
      }
    }),
  );
}

describe('3-node JetStream cluster, two ingresses, three workers', () => {
  it('streams are R3 across the three nodes', async () => {
    for (const name of Object.values(STREAMS)) {
      const info = await stack.runtime.nats.jsm.streams.info(name);
      expect(info.config.num_replicas, name).toBe(3);
      expect(info.cluster?.replicas?.length, name).toBe(2);
    }
  });

  it('a NATS node and a worker SIGKILLed mid-load: no accepted request lost or billed twice', async () => {
    const outcomes: Outcome[] = [];
    await load('before', PHASE_MS.before, outcomes);

    const leader = (await stack.runtime.nats.jsm.streams.info(STREAMS.requests)).cluster!.leader!;
    const victim = cluster.nodes[Number(/^sy-node-(\d+)/.exec(leader)![1])]!;
    const during = load('during', PHASE_MS.during, outcomes);
    await new Promise((r) => setTimeout(r, 1_000));
    victim.kill();
    await new Promise((r) => setTimeout(r, 500));
    await workers[0]!.kill('SIGKILL');
    await during;
    await load('after', PHASE_MS.after, outcomes);

    // Throughput: answered requests (200/202) per second, per phase.
    const rate: Record<Phase, number> = { before: 0, during: 0, after: 0 };
    for (const phase of ['before', 'during', 'after'] as const) {
      const ok = outcomes.filter((o) => o.phase === phase && (o.status === 200 || o.status === 202)).length;
      rate[phase] = Math.round((ok / (PHASE_MS[phase] / 1000)) * 10) / 10;
    }
    const statuses: Record<string, number> = {};
    for (const o of outcomes) statuses[`${o.phase}:${o.status}`] = (statuses[`${o.phase}:${o.status}`] ?? 0) + 1;
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    const refusals: Record<string, number> = {};
    for (const o of outcomes) if (o.error) refusals[o.error] = (refusals[o.error] ?? 0) + 1;
    const refusedAt = outcomes.filter((o) => o.status === 503).map((o) => o.ms);
    if (refusedAt.length || Object.keys(refusals).length) console.log('refused or incomplete', refusals);
    console.log(
      `cluster throughput (req/s, ${CONCURRENCY} clients, 2 ingresses, 3->2 workers, 3->2 NATS nodes): ` +
        `before ${rate.before}, during ${rate.during}, after ${rate.after}; slowest ${slowest} ms; ` +
        `statuses ${JSON.stringify(statuses)}; interrupted streams ${outcomes.filter((o) => o.interrupted).length}; killed NATS ${leader}`,
    );

    const slow = outcomes.filter((o) => o.ms > 10_000).map((o) => `${o.phase} ${o.kind} ${o.status} ${o.id} ${o.ms} ms`);
    if (slow.length) console.log('answered after more than 10 s', slow);
    // A stream that started (200) and then neither finished nor said it was interrupted before the
    // client gave up: what each process logged about it (seen once in CI, 45 s, not yet explained).
    const stalled = outcomes.filter((o) => o.kind === 'stream' && o.status === 200 && !o.complete && !o.interrupted);
    for (const o of stalled)
      console.log(
        `stalled stream ${o.id} (${o.ms} ms)`,
        [...ingresses, ...workers].map((c, i) =>
          [
            `-- ${i < ingresses.length ? `ingress ${i}` : `worker ${i - ingresses.length}`}`,
            ...c
              .output()
              .split('\n')
              .filter((l) => l.includes(o.id!)),
          ].join('\n'),
        ),
      );
    const lost = outcomes.filter((o) => o.status === 0);
    if (lost.length) {
      const abortedIds = ingresses.flatMap((c) =>
        [...c.output().matchAll(/"reqId":"(req_[0-9a-f]+)"[^\n]*"aborted":true/g)].map((m) => m[1]!),
      );
      console.log(
        'aborted',
        abortedIds,
        await stack.db
          .selectFrom('usage')
          .selectAll()
          .where('request_id', 'in', abortedIds.length ? abortedIds : ['-'])
          .execute(),
      );
      console.log(await stack.runtime.nats.jsm.consumers.info(STREAMS.requests, 'worker-openai-interactive'));
      for (const c of [...ingresses, ...workers])
        for (const id of abortedIds)
          console.log(
            c
              .output()
              .split('\n')
              .filter((l) => l.includes(id))
              .join('\n'),
          );
      for (const c of [...ingresses, ...workers])
        console.log(
          c
            .output()
            .split('\n')
            .filter((l) => /"level":(40|50|60)|aborted|"status":5/.test(l))
            .slice(-40)
            .join('\n'),
        );
    }
    // Every answer is a success, an honest 503 (the request was not queued) or an interrupted stream;
    // nothing hangs, nothing 500s.
    for (const o of outcomes) if (!o.interrupted) expect([200, 202, 503], `${o.phase} ${o.kind} ${o.id}`).toContain(o.status);
    const accepted = outcomes.filter((o) => o.status === 200 || o.status === 202);
    // A non-streamed 200 is a whole completion; a streamed one is whole, or (its worker died after it
    // had spoken) ends with the stream_interrupted error instead of repeated tokens.
    for (const o of accepted.filter((a) => a.kind === 'chat')) expect(o.complete, o.id!).toBe(true);
    for (const o of accepted.filter((a) => a.kind === 'stream')) expect(o.complete || o.interrupted, `${o.id}: ${o.error}`).toBe(true);
    const lostTokens = accepted.filter((a) => a.kind === 'stream' && !a.complete && !a.interrupted);
    expect(lostTokens.map((o) => o.id)).toEqual([]);

    // Every async request completes.
    const asyncIds = accepted.filter((o) => o.kind === 'async').map((o) => o.id!);
    expect(asyncIds.length).toBeGreaterThan(0);
    const unfinished: string[] = [];
    for (const id of asyncIds) {
      const done = await waitFor(
        async () => {
          const r = (await (
            await fetch(`${ingressUrls[0]}/v1/requests/${id}`, { headers: { authorization: `Bearer ${stack.apiKey}` } })
          ).json()) as {
            status: string;
            response?: { status_code: number };
          };
          return r.status === 'completed' ? r : undefined;
        },
        // A result whose delivery to the async store was lost with the killed node comes again after
        // the async-results consumer's ack wait (30 s): seen at 47 s after the request in one CI run.
        { timeoutMs: 60_000, intervalMs: 200, what: `async request ${id}` },
      ).catch(() => null);
      if (!done) unfinished.push(id);
      else expect(done.response?.status_code, id).toBe(200);
    }
    if (unfinished.length) {
      const r = await fetch(`${ingressUrls[0]}/v1/requests/${unfinished[0]}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      console.log(
        'unfinished async',
        unfinished,
        await r.text(),
        await stack.db.selectFrom('usage').selectAll().where('request_id', 'in', unfinished).execute(),
      );
      console.log(await stack.runtime.nats.jsm.consumers.info(STREAMS.results, 'async-results'));
      for (const c of [...ingresses, ...workers])
        for (const id of unfinished)
          console.log(
            c
              .output()
              .split('\n')
              .filter((l) => l.includes(id) || /async/.test(l))
              .slice(-10)
              .join('\n'),
          );
    }
    expect(unfinished).toEqual([]);

    // Exactly one usage row per accepted request, and the rollup counts each once.
    const ids = accepted.map((o) => o.id!);
    expect(new Set(ids).size).toBe(ids.length);
    const rows = await waitFor(
      async () => {
        const found = await stack.db.selectFrom('usage').select(['request_id', 'status']).where('request_id', 'in', ids).execute();
        return found.length === ids.length ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: `usage rows of ${ids.length} accepted requests` },
    );
    expect(rows.length).toBe(ids.length);
    const totals = await sql<{ rows: string; rolled: string }>`
      SELECT (SELECT count(*) FROM usage) AS rows, (SELECT coalesce(sum(requests), 0) FROM usage_daily) AS rolled`.execute(stack.db);
    expect(Number(totals.rows[0]!.rolled)).toBe(Number(totals.rows[0]!.rows));

    // Sane throughput: work went on while a node and a worker were gone, and recovered afterwards.
    expect(rate.before).toBeGreaterThan(0);
    expect(rate.during).toBeGreaterThan(0);
    expect(rate.after).toBeGreaterThanOrEqual(rate.before * 0.4);
  }, 180_000);
});
