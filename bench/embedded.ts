// The embedded default (PGlite in its worker thread) beside the Postgres shape: the same all-in-one
// process (services/all/main.ts, with `npm start`'s V8 flags), the same mock upstream and load, one after
// the other in one run. Prints start-up time, idle RSS, added latency at a fixed rate, max throughput
// and the embedded/Postgres ratios.
//
//   node bench/embedded.ts                                   # 300 req/s and 64 connections, 10 s each
//   BENCH_RATE=500 BENCH_DURATION=5 node bench/embedded.ts
//
// Load generator, broker, NATS, Postgres and the mock share this machine's cores: compare numbers
// within one run, not across machines.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { runLoad, type LoadResult } from './load.ts';
import { BROKER_NODE_FLAGS, ProcessGroup, rssMb } from './processes.ts';
import { startNatsServer } from '../test/harness/nats-server.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 300);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const API_KEY = 'sk-bench';
// What `npm start` runs with (package.json), so both shapes are measured as users get them.
const NODE_FLAGS = BROKER_NODE_FLAGS;

const group = new ProcessGroup();
const chat = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] });
const auth = { authorization: `Bearer ${API_KEY}` };

interface ShapeResult {
  shape: string;
  readyMs: number;
  secondReadyMs?: number;
  idleRssMb: number;
  rssAtMaxMb: number;
  direct: LoadResult;
  rate: LoadResult;
  max: LoadResult;
  addedP50: number;
  addedP99: number;
}

function line(name: string, r: LoadResult) {
  console.log(
    `  ${name.padEnd(34)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  non-2xx ${r.non2xx}`,
  );
}

/** Starts the all-in-one process and returns it once it answers, with how long that took. */
async function startAllInOne(env: Record<string, string>, port: number): Promise<{ proc: ChildProcess; readyMs: number }> {
  const t0 = performance.now();
  const proc = group.run('services/all/main.ts', env, NODE_FLAGS);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: auth })).ok, {
    timeoutMs: 120_000,
    intervalMs: 25,
    what: 'switchyard answering',
  });
  return { proc, readyMs: Math.round(performance.now() - t0) };
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

async function measureShape(shape: 'postgres' | 'embedded', mockUrl: string, databaseUrl: string): Promise<ShapeResult> {
  // A fresh nats-server per shape, so neither inherits the other's streams.
  const nats = await startNatsServer();
  group.cleanups.push(() => nats.stop());
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-bench-embedded-'));
  group.cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = {
    NATS_URL: nats.url,
    OPENAI_BASE_URL: `${mockUrl}/v1`,
    OPENAI_API_KEY: 'sk-upstream',
    BOOTSTRAP_API_KEY: API_KEY,
    LOG_LEVEL: 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
    SWITCHYARD_DATA_DIR: dataDir,
    ...(shape === 'postgres' ? { DATABASE_URL: databaseUrl } : { DATABASE_URL: '' }),
  };
  console.log(`\n${shape}:`);
  const first = await startAllInOne(env, port);
  const readyMs = first.readyMs;
  let proc = first.proc;
  let secondReadyMs: number | undefined;
  if (shape === 'embedded') {
    // The first start creates the database; users restart far more often than they install.
    await stop(proc);
    ({ proc, readyMs: secondReadyMs } = await startAllInOne(env, port));
  }
  await new Promise((r) => setTimeout(r, 3_000));
  const idleRssMb = Math.round(rssMb(proc.pid));
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  await runLoad({ url, body: chat, headers: auth, connections: 16, durationSeconds: 3 });
  // The direct baseline right before, so "added" compares like with like under the machine's load now.
  const direct = await runLoad({
    url: `${mockUrl}/v1/chat/completions`,
    body: chat,
    connections: 32,
    durationSeconds: DURATION,
    rate: RATE,
  });
  line(`direct, ${RATE} req/s`, direct);
  const rate = await runLoad({ url, body: chat, headers: auth, connections: 32, durationSeconds: DURATION, rate: RATE });
  line(`switchyard, ${RATE} req/s`, rate);
  const max = await runLoad({ url, body: chat, headers: auth, connections: CONNECTIONS, durationSeconds: DURATION });
  line(`switchyard, ${CONNECTIONS} connections`, max);
  const rssAtMaxMb = Math.round(rssMb(proc.pid));
  await stop(proc);
  return {
    shape,
    readyMs,
    ...(secondReadyMs !== undefined ? { secondReadyMs } : {}),
    idleRssMb,
    rssAtMaxMb,
    direct,
    rate,
    max,
    addedP50: +(rate.p50 - direct.p50).toFixed(2),
    addedP99: +(rate.p99 - direct.p99).toFixed(2),
  };
}

async function main() {
  const { databaseUrl, mockUrl } = await group.startBackends('bench_embedded');
  console.log(
    `Embedded default vs Postgres shape: ${DURATION}s per run, ${RATE} req/s and ${CONNECTIONS} connections, node ${process.version}`,
  );
  const pgShape = await measureShape('postgres', mockUrl, databaseUrl);
  const embedded = await measureShape('embedded', mockUrl, databaseUrl);
  const ratio = {
    throughput: +(embedded.max.rps / pgShape.max.rps).toFixed(2),
    addedP50: +(embedded.addedP50 / Math.max(0.01, pgShape.addedP50)).toFixed(2),
  };
  console.log(`
                          postgres    embedded
ready (first start)       ${String(pgShape.readyMs).padStart(6)} ms  ${String(embedded.readyMs).padStart(6)} ms
ready (second start)           -      ${String(embedded.secondReadyMs).padStart(6)} ms
idle RSS (process)        ${String(pgShape.idleRssMb).padStart(6)} MB  ${String(embedded.idleRssMb).padStart(6)} MB
RSS at max load           ${String(pgShape.rssAtMaxMb).padStart(6)} MB  ${String(embedded.rssAtMaxMb).padStart(6)} MB
added p50 at ${RATE} req/s    ${pgShape.addedP50.toFixed(2).padStart(6)} ms  ${embedded.addedP50.toFixed(2).padStart(6)} ms
added p99 at ${RATE} req/s    ${pgShape.addedP99.toFixed(2).padStart(6)} ms  ${embedded.addedP99.toFixed(2).padStart(6)} ms
max throughput            ${String(pgShape.max.rps).padStart(6)}/s   ${String(embedded.max.rps).padStart(6)}/s
embedded / postgres: throughput ${ratio.throughput} (goal >= 0.8), added p50 ${ratio.addedP50} (goal <= 1.5)`);
  mkdirSync('bench/results', { recursive: true });
  const date = new Date().toISOString();
  writeFileSync(
    `bench/results/embedded-${date.replace(/[:.]/g, '-')}.json`,
    JSON.stringify({ date, node: process.version, DURATION, RATE, CONNECTIONS, NODE_FLAGS, pgShape, embedded, ratio }, null, 2),
  );
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  console.error('benchmark failed:', err);
  exitCode = 1;
} finally {
  await group.stopAll('SIGKILL');
  process.exit(exitCode);
}
