// Batch benchmark: a 50,000-line batch against the mock upstream through the whole Switchyard
// (`services/all/main.ts`: ingress + worker + ledger + batch runner in one process, the `npm start`
// shape), on a throwaway nats-server and Postgres. Reports the batch's wall time, lines/s, the
// broker's peak RSS (sampled), and interactive latency (non-streaming chat at a fixed rate) idle vs
// while the batch runs. Upload and download stream: the bench never holds the file in memory.
//
//   node bench/batch.ts                          # 50,000 lines
//   BENCH_LINES=5000 node bench/batch.ts         # quicker
//   BENCH_WORKER_BATCH_CONCURRENCY=64 node bench/batch.ts
import { createWriteStream, openAsBlob, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runLoad } from './load.ts';
import { waitFor } from '../test/harness/ports.ts';
import { ProcessGroup, rssMb } from './processes.ts';

const LINES = Number(process.env.BENCH_LINES ?? 50_000);
const RATE = Number(process.env.BENCH_INTERACTIVE_RATE ?? 50);
const PROBE_SECONDS = Number(process.env.BENCH_PROBE_SECONDS ?? 8);
const API_KEY = 'sk-bench-batch';

const group = new ProcessGroup();
const { cleanups } = group;

async function main() {
  const backends = await group.startBackends('bench_batch');
  const { databaseUrl } = backends;
  const { process: broker, url: sy } = await group.startBroker(backends, API_KEY, {
    env: process.env.BENCH_WORKER_BATCH_CONCURRENCY ? { WORKER_BATCH_CONCURRENCY: process.env.BENCH_WORKER_BATCH_CONCURRENCY } : {},
    flags: [],
  });
  const auth = { authorization: `Bearer ${API_KEY}` };

  // The input file, written line by line.
  const path = join(tmpdir(), `switchyard-batch-${process.pid}.jsonl`);
  cleanups.push(() => rmSync(path, { force: true }));
  const out = createWriteStream(path);
  for (let i = 0; i < LINES; i++) {
    const line = JSON.stringify({
      custom_id: `r${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 32 },
    });
    if (!out.write(line + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));

  const chatBody = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'interactive probe' }] });
  const probe = () =>
    runLoad({
      url: `${sy}/v1/chat/completions`,
      body: chatBody,
      headers: auth,
      connections: 8,
      durationSeconds: PROBE_SECONDS,
      rate: RATE,
    });
  await probe(); // warm-up
  const idle = await probe();
  const rssIdle = rssMb(broker.pid);

  let peak = rssIdle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(broker.pid))), 200);

  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', await openAsBlob(path), 'bench.jsonl');
  const t0 = performance.now();
  const up = await fetch(`${sy}/v1/files`, { method: 'POST', headers: auth, body: form });
  if (!up.ok) throw new Error(`upload failed: ${up.status} ${await up.text()}`);
  const file = (await up.json()) as { id: string; bytes: number };
  const uploadSeconds = (performance.now() - t0) / 1000;
  const created = await fetch(`${sy}/v1/batches`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
  });
  const batch = (await created.json()) as { id: string };
  const t1 = performance.now();

  // Interactive latency while the batch runs (measured once it is in full flow).
  await new Promise((r) => setTimeout(r, 1_000));
  const during = await probe();
  const progressAtProbeEnd = await status(batch.id);

  const done = await waitFor(
    async () => {
      const b = await status(batch.id);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(b.status) ? b : undefined;
    },
    { timeoutMs: 3_600_000, intervalMs: 500, what: 'batch done' },
  );
  const batchSeconds = (performance.now() - t1) / 1000;
  clearInterval(sampler);

  // Download the output as a stream, checking every line.
  const t2 = performance.now();
  const res = await fetch(`${sy}/v1/files/${done.output_file_id}/content`, { headers: auth });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let carry = '';
  let okLines = 0;
  let outBytes = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    outBytes += value.length;
    const parts = (carry + dec.decode(value, { stream: true })).split('\n');
    carry = parts.pop()!;
    for (const p of parts) if ((JSON.parse(p) as { response: { status_code: number } }).response.status_code === 200) okLines++;
  }
  const downloadSeconds = (performance.now() - t2) / 1000;

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const rows = await waitFor(
    async () => {
      const r = await client.query<{ n: string }>('select count(*) as n from usage where batch_id = $1', [batch.id]);
      return Number(r.rows[0]!.n) >= LINES ? Number(r.rows[0]!.n) : undefined;
    },
    { timeoutMs: 60_000, what: 'usage rows' },
  );
  await client.end();

  const report = {
    lines: LINES,
    input_bytes: file.bytes,
    upload_seconds: round(uploadSeconds),
    batch_seconds: round(batchSeconds),
    lines_per_second: Math.round(LINES / batchSeconds),
    status: done.status,
    request_counts: done.request_counts,
    output_lines_ok: okLines,
    output_bytes: outBytes,
    download_seconds: round(downloadSeconds),
    usage_rows: rows,
    broker_rss_mb: { idle: round(rssIdle), peak: round(peak) },
    bench_process_peak_rss_mb: round(process.resourceUsage().maxRSS / 1024),
    interactive_ms: {
      rate: RATE,
      idle: { p50: idle.p50, p99: idle.p99, ok: idle.ok, errors: idle.errors + idle.non2xx },
      during_batch: { p50: during.p50, p99: during.p99, ok: during.ok, errors: during.errors + during.non2xx },
      p50_ratio: round(during.p50 / idle.p50),
      batch_lines_done_when_probe_ended: progressAtProbeEnd.request_counts.completed,
    },
  };
  console.log(JSON.stringify(report, null, 2));

  async function status(id: string) {
    return (await (await fetch(`${sy}/v1/batches/${id}`, { headers: auth })).json()) as {
      status: string;
      output_file_id: string;
      request_counts: { total: number; completed: number; failed: number };
    };
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

try {
  await main();
} finally {
  await group.stopAll('SIGTERM');
}
