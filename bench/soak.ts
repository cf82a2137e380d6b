// Does memory stop climbing? The peer harness measures ~100 s of load per process; an operator runs
// Switchyard for weeks. This keeps one all-in-one process (services/all with npm start's V8 flags)
// under a fixed mixed load for many minutes, longer than the resume window (EVENTS_MAX_AGE_SECONDS,
// 600 s) so nats-server's index of it reaches its steady state, with several tenants, each on its
// own key. It samples the RSS of the broker (the embedded PGlite's worker thread included) and of
// nats-server every few seconds, and prints per window: req/s, p50 / p99, failures, the two RSS
// peaks; then each process's trend (bench/soak-trend.ts: settled or growing) and the ledger check
// through the public API (every answered request is one usage row, summed over the tenants).
// Beside the broker's latency each window shows what tells a slower broker from a slower machine:
// CPU per answered request of the broker (its main thread and, on the embedded default, PGlite's
// thread apart), of the Postgres cluster, of nats-server and of the mock upstream (the same mix of
// calls every window, so its CPU per call moves only with the machine); the p50 of a small control
// load sent straight to the mock (BENCH_CONTROL_RATE req/s); and a fixed piece of CPU work timed
// between windows (bench/machine-gauge.ts).
//
//   node bench/soak.ts                              # 15 min on the embedded default (npm start's PGlite)
//   BENCH_BACKEND=postgres node bench/soak.ts       # the same on Postgres
//   BENCH_SOAK_MINUTES=30 BENCH_RATE=400 BENCH_STREAM_SHARE=0.25 BENCH_TENANTS=8 node bench/soak.ts
//   BENCH_WINDOW=30 (s per printed window), BENCH_TOLERANCE_MB=10 (what counts as growth),
//   BENCH_CONTROL_RATE=10 (req/s of the control load straight to the mock; 0: none)
//   BENCH_BROKER_STDOUT=/tmp/gc.log BENCH_NODE_FLAGS='<npm start's flags> --trace-gc' node bench/soak.ts
//                                                   # what each full collection kept, over time
//
// Writes everything to bench/results/soak-<date>.json.
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, median } from './load.ts';
import { benchBodies, BROKER_NODE_FLAGS, cpuSeconds, ProcessGroup, rssMb, threadCpuSeconds, treeCpuSeconds } from './processes.ts';
import { trend, type Sample } from './soak-trend.ts';
import { machineGauge } from './machine-gauge.ts';
import { startNatsServer } from '../test/harness/nats-server.ts';
import { createDatabase, startPostgres } from '../test/harness/postgres.ts';
import { waitFor } from '../test/harness/ports.ts';

const MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 15);
const RATE = Number(process.env.BENCH_RATE ?? 300);
const STREAM_SHARE = Number(process.env.BENCH_STREAM_SHARE ?? 0.25);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 8);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 30);
const TOLERANCE_MB = Number(process.env.BENCH_TOLERANCE_MB ?? 10);
const BACKEND = process.env.BENCH_BACKEND ?? 'embedded';
const FLAGS = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? BROKER_NODE_FLAGS;
const CONTROL_RATE = Number(process.env.BENCH_CONTROL_RATE ?? 10);
const GAUGE_ROUNDS = 8_000; // ~20 ms of work per pass on this machine
const SAMPLE_MS = 2_000;
// Memory climbs while code warms up, pools fill and the first full collections set V8's limits.
const WARMUP_SECONDS = Math.min(120, (MINUTES * 60) / 5);
const ADMIN_KEY = 'sk-soak-admin-0123456789abcdef';
const BOOTSTRAP_KEY = 'sk-soak-bootstrap-0123456789abcdef';

if (BACKEND !== 'embedded' && BACKEND !== 'postgres') throw new Error(`BENCH_BACKEND must be embedded or postgres, not ${BACKEND}`);
if (!(STREAM_SHARE >= 0 && STREAM_SHARE <= 1)) throw new Error(`BENCH_STREAM_SHARE must be within 0..1, not ${STREAM_SHARE}`);
if (!(MINUTES > 0) || !(RATE > 0) || !(TENANTS >= 1) || !(WINDOW >= 5))
  throw new Error('BENCH_SOAK_MINUTES, BENCH_RATE, BENCH_TENANTS, BENCH_WINDOW');

const group = new ProcessGroup();

/** CPU seconds over a window as µs per answered request. */
const perRequest = (seconds: number, answered: number) => (answered > 0 ? Math.round((seconds * 1e6) / answered) : NaN);

async function admin(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Usage rows of these tenants (the admin API's per-model sums over the last day). */
async function usageRequests(url: string, tenantIds: string[]): Promise<number> {
  let total = 0;
  for (const id of tenantIds) {
    const from = new Date(Date.now() - 86_400_000).toISOString();
    const res = await fetch(`${url}/admin/v1/tenants/${id}/usage?group_by=model&from=${encodeURIComponent(from)}`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    if (!res.ok) throw new Error(`usage of ${id}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { data: Array<{ requests: number }> };
    total += body.data.reduce((a, r) => a + r.requests, 0);
  }
  return total;
}

async function main() {
  const nats = await startNatsServer();
  group.cleanups.push(() => nats.stop());
  const mock = await group.startMock();
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-bench-soak-'));
  group.cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  let databaseUrl = '';
  let postgresPid: () => number | undefined = () => undefined;
  if (BACKEND === 'postgres') {
    const pg = await startPostgres();
    group.cleanups.push(() => pg.destroy());
    postgresPid = () => pg.pid();
    databaseUrl = await createDatabase(pg.url, 'bench_soak');
  }
  // An empty DATABASE_URL opens the embedded PGlite in SWITCHYARD_DATA_DIR, as npm start does.
  const { process: broker, url } = await group.startBroker({ nats, databaseUrl, mockUrl: mock.url }, BOOTSTRAP_KEY, {
    flags: FLAGS,
    env: { SWITCHYARD_DATA_DIR: dataDir, ADMIN_API_KEY: ADMIN_KEY },
    ...(process.env.BENCH_BROKER_STDOUT ? { stdout: openSync(process.env.BENCH_BROKER_STDOUT, 'w') } : {}),
  });

  const tenants: Array<{ id: string; key: string }> = [];
  for (let i = 0; i < TENANTS; i++) {
    const tenant = await admin(url, '/admin/v1/tenants', { name: `soak-${i}` });
    const key = await admin(url, `/admin/v1/tenants/${String(tenant.id)}/keys`, { name: 'soak' });
    tenants.push({ id: String(tenant.id), key: String(key.key) });
  }
  const mb = (pid: number | undefined) => Math.round(rssMb(pid) * 10) / 10;
  const idle = { brokerMb: mb(broker.pid), natsMb: mb(nats.pid()) };
  console.log(
    `soak: ${BACKEND}, ${MINUTES} min, ${RATE} req/s (${Math.round(STREAM_SHARE * 100)}% 20-token streams), ${TENANTS} tenants, node ${process.version}; idle RSS broker ${idle.brokerMb} MB, nats-server ${idle.natsMb} MB`,
  );

  const cpuNow = () => {
    const threads = threadCpuSeconds(broker.pid);
    return {
      broker: cpuSeconds(broker.pid),
      main: threads.MainThread ?? 0,
      dbThread: threads.WorkerThread ?? 0, // the embedded PGlite's thread; none on Postgres
      postgres: treeCpuSeconds([postgresPid()]), // its closed backends included
      nats: cpuSeconds(nats.pid()),
      mock: cpuSeconds(mock.pid),
    };
  };
  machineGauge(5, GAUGE_ROUNDS); // compile it before the first reading
  const samples = { broker: [] as Sample[], nats: [] as Sample[] };
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    samples.broker.push({ t, mb: mb(broker.pid) });
    samples.nats.push({ t, mb: mb(nats.pid()) });
  }, SAMPLE_MS);

  const windows = [];
  let answered = 0;
  let failed = 0;
  const target = `${url}/v1/chat/completions`;
  for (let w = 0; (performance.now() - t0) / 1000 < MINUTES * 60 - 1; w++) {
    const latencies: number[] = [];
    const controlLatencies: number[] = [];
    const cpuBefore = cpuNow();
    const loads = tenants.flatMap((t) => {
      const headers = { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' };
      const common = {
        url: target,
        headers,
        durationSeconds: WINDOW,
        warmupSeconds: 0,
        onSample: (_: number, ms: number) => latencies.push(ms),
      };
      const chatRate = (RATE * (1 - STREAM_SHARE)) / TENANTS;
      const streamRate = (RATE * STREAM_SHARE) / TENANTS;
      return [
        ...(chatRate > 0 ? [runLoad({ ...common, body: benchBodies.chat, connections: 8, rate: chatRate })] : []),
        ...(streamRate > 0 ? [runLoad({ ...common, body: benchBodies.stream, connections: 8, rate: streamRate })] : []),
      ];
    });
    // The control: the same chat straight to the mock, at a low rate, in the same window.
    const control =
      CONTROL_RATE > 0
        ? runLoad({
            url: `${mock.url}/v1/chat/completions`,
            headers: { authorization: 'Bearer sk-upstream' },
            body: benchBodies.chat,
            connections: 1,
            rate: CONTROL_RATE,
            durationSeconds: WINDOW,
            warmupSeconds: 0,
            onSample: (_: number, ms: number) => controlLatencies.push(ms),
          })
        : Promise.resolve(undefined);
    const [results, controlResult] = await Promise.all([Promise.all(loads), control]);
    const cpuAfter = cpuNow();
    const gauge = machineGauge(5, GAUGE_ROUNDS);
    const ok = results.reduce((a, r) => a + r.ok + r.warmupOk, 0);
    const bad = results.reduce((a, r) => a + r.non2xx + r.errors, 0);
    answered += ok;
    failed += bad;
    const end = (performance.now() - t0) / 1000;
    const inWindow = (s: Sample[]) => s.filter((x) => x.t > end - WINDOW - SAMPLE_MS / 1000);
    const sorted = latencies.sort((a, b) => a - b);
    const window = {
      endSeconds: Math.round(end),
      rps: Math.round(results.reduce((a, r) => a + r.rps, 0)),
      p50: +median(sorted).toFixed(2),
      p99: +(sorted[Math.floor(sorted.length * 0.99)] ?? NaN).toFixed(2),
      failed: bad,
      // CPU (user + system, the database's thread included on the embedded default) per answered request.
      brokerCpuUs: perRequest(cpuAfter.broker - cpuBefore.broker, ok),
      mainThreadCpuUs: perRequest(cpuAfter.main - cpuBefore.main, ok),
      dbThreadCpuUs: perRequest(cpuAfter.dbThread - cpuBefore.dbThread, ok),
      postgresCpuUs: perRequest(cpuAfter.postgres - cpuBefore.postgres, ok),
      natsCpuUs: perRequest(cpuAfter.nats - cpuBefore.nats, ok),
      // Per call the mock answers, the broker's and the control's.
      mockCpuUs: perRequest(cpuAfter.mock - cpuBefore.mock, ok + (controlResult ? controlResult.ok + controlResult.warmupOk : 0)),
      controlP50: controlLatencies.length ? +median(controlLatencies.sort((a, b) => a - b)).toFixed(2) : NaN,
      gaugeMs: gauge.ms,
      brokerPeakMb: Math.max(0, ...inWindow(samples.broker).map((s) => s.mb)),
      natsPeakMb: Math.max(0, ...inWindow(samples.nats).map((s) => s.mb)),
    };
    windows.push(window);
    console.log(
      `  ${String(window.endSeconds).padStart(5)} s  ${String(window.rps).padStart(5)} req/s  p50 ${window.p50.toFixed(2)} ms  p99 ${window.p99.toFixed(2)} ms  failed ${bad}  RSS broker ${window.brokerPeakMb} MB, nats-server ${window.natsPeakMb} MB  CPU/req broker ${window.brokerCpuUs} µs (main ${window.mainThreadCpuUs}, ${BACKEND === 'embedded' ? `PGlite ${window.dbThreadCpuUs}` : `Postgres ${window.postgresCpuUs}`}), nats ${window.natsCpuUs} µs, mock ${window.mockCpuUs} µs  control p50 ${window.controlP50} ms  gauge ${window.gaugeMs} ms`,
    );
  }
  clearInterval(sampler);

  // The last batches of usage rows land within the ledger's linger; wait until the sum stops moving.
  let rows = -1;
  await waitFor(
    async () => {
      const now = await usageRequests(
        url,
        tenants.map((t) => t.id),
      );
      const stable = now === rows;
      rows = now;
      return stable && now >= answered;
    },
    { timeoutMs: 60_000, intervalMs: 2_000, what: 'usage rows settled' },
  ).catch(() => {});

  const opts = { warmupSeconds: WARMUP_SECONDS, toleranceMb: TOLERANCE_MB };
  const brokerTrend = trend(samples.broker, opts);
  const natsTrend = trend(samples.nats, opts);
  const together = trend(
    samples.broker.map((s, i) => ({ t: s.t, mb: Math.round((s.mb + (samples.nats[i]?.mb ?? 0)) * 10) / 10 })),
    opts,
  );
  const show = (name: string, t: ReturnType<typeof trend>) =>
    `${name.padEnd(22)} ${t.verdict.padEnd(8)} middle third ${t.middleMb} MB, last third ${t.lastMb} MB, last half ${t.slopeMbPerMin >= 0 ? '+' : ''}${t.slopeMbPerMin} MB/min, peak ${t.peakMb} MB`;
  console.log(`\nafter ${WARMUP_SECONDS} s of warm-up (growth: more than ${TOLERANCE_MB} MB):`);
  console.log(`  ${show('broker', brokerTrend)}`);
  console.log(`  ${show('nats-server', natsTrend)}`);
  console.log(`  ${show('together', together)}`);
  console.log(
    `  answered ${answered}, failed ${failed}; usage rows ${rows} (${rows === answered ? 'one per answered request' : 'MISMATCH'})`,
  );

  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        backend: BACKEND,
        minutes: MINUTES,
        rate: RATE,
        streamShare: STREAM_SHARE,
        tenants: TENANTS,
        controlRate: CONTROL_RATE,
        idle,
        windows,
        trends: { broker: brokerTrend, nats: natsTrend, together },
        answered,
        failed,
        usageRows: rows,
        samples,
      },
      null,
      1,
    ),
  );
  console.log(`  ${file}`);
  if (rows !== answered || failed > 0) process.exitCode = 1;
}

try {
  await main();
} finally {
  await group.stopAll();
}
