// The cost of OpenTelemetry tracing: the same all-in-one process (Postgres shape) and load, with
// tracing off (no OTLP endpoint: SDK not loaded), on with every request sampled, and on with 1% of
// requests sampled (the context still travels, spans are mostly not recorded). The OTLP/HTTP
// receiver accepts and discards, so what is measured is the broker's own work: spans, propagation,
// batching and export.
//
//   node bench/tracing.ts                      # 3 rounds: 50 req/s and 64 connections, 10 s each
//   BENCH_ROUNDS=5 BENCH_RATE=100 BENCH_DURATION=5 node bench/tracing.ts
//
// Load generator, broker, NATS, Postgres, the mock and the receiver share this machine's cores:
// compare numbers within one run, not across machines.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { median, runLoad, type LoadResult } from './load.ts';
import { BROKER_NODE_FLAGS, brokerEnv, ProcessGroup } from './processes.ts';
import { startNatsServer } from '../test/harness/nats-server.ts';
import { createDatabase } from '../test/harness/postgres.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const API_KEY = 'sk-bench';
const NODE_FLAGS = BROKER_NODE_FLAGS;

const group = new ProcessGroup();
const chat = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] });
const auth = { authorization: `Bearer ${API_KEY}` };

const MODES: Array<{ name: string; env: (receiver: string) => Record<string, string> }> = [
  { name: 'tracing off', env: () => ({}) },
  {
    name: 'tracing on, 100% sampled',
    env: (receiver) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver, OTEL_TRACES_SAMPLER: 'parentbased_always_on' }),
  },
  {
    name: 'tracing on, 1% sampled',
    env: (receiver) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.01',
    }),
  },
];

function line(name: string, r: LoadResult) {
  console.log(
    `  ${name.padEnd(40)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  non-2xx ${r.non2xx}`,
  );
}

/** An OTLP/HTTP endpoint that accepts every export and keeps nothing; counts the bytes received. */
async function discardingReceiver(): Promise<{ url: string; bytes: () => number }> {
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  group.cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bytes: () => bytes };
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

async function main() {
  const { databaseUrl: firstDb, mockUrl } = await group.startBackends('bench_tracing_0');
  const adminUrl = firstDb.replace(/\/[^/]+$/, '/postgres');
  const receiver = await discardingReceiver();
  console.log(
    `Tracing cost: ${ROUNDS} rounds of ${DURATION}s per mode, ${RATE} req/s and ${CONNECTIONS} connections, node ${process.version}`,
  );
  // One process per mode, each on its own NATS and database, all started first; the runs then take
  // turns (off, on, 1%, off, ...) so a change in the machine's load hits every mode alike.
  const running: Array<{ mode: string; url: string; proc: ChildProcess; rate: LoadResult[]; max: LoadResult[] }> = [];
  for (const [i, mode] of MODES.entries()) {
    const nats = await startNatsServer();
    group.cleanups.push(() => nats.stop());
    const databaseUrl = i === 0 ? firstDb : await createDatabase(adminUrl, `bench_tracing_${i}`);
    const port = await freePort();
    const proc = group.run(
      'services/all/main.ts',
      { ...brokerEnv({ nats, databaseUrl, mockUrl }, port, API_KEY), ...mode.env(receiver.url) },
      NODE_FLAGS,
    );
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: auth })).ok, {
      timeoutMs: 120_000,
      what: 'switchyard',
    });
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    await runLoad({ url, body: chat, headers: auth, connections: 16, durationSeconds: 3 }); // warm-up
    running.push({ mode: mode.name, url, proc, rate: [], max: [] });
  }
  const exportedBefore = receiver.bytes();
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`\nround ${round}:`);
    for (const r of running) {
      const rate = await runLoad({ url: r.url, body: chat, headers: auth, connections: 32, durationSeconds: DURATION, rate: RATE });
      line(`${r.mode}, ${RATE} req/s`, rate);
      const max = await runLoad({ url: r.url, body: chat, headers: auth, connections: CONNECTIONS, durationSeconds: DURATION });
      line(`${r.mode}, ${CONNECTIONS} connections`, max);
      r.rate.push(rate);
      r.max.push(max);
    }
  }
  for (const r of running) await stop(r.proc);
  const summary = running.map((r) => ({
    mode: r.mode,
    maxRps: median(r.max.map((x) => x.rps)),
    p50: median(r.rate.map((x) => x.p50)),
    p99: median(r.rate.map((x) => x.p99)),
  }));
  const off = summary[0]!;
  console.log(
    `\nmedians over ${ROUNDS} rounds (vs tracing off); ${Math.round((receiver.bytes() - exportedBefore) / 1024)} KiB of OTLP received in all:`,
  );
  for (const s of summary) {
    console.log(
      `  ${s.mode.padEnd(26)} max ${String(s.maxRps).padStart(6)} req/s (${((s.maxRps / off.maxRps - 1) * 100).toFixed(1)}%)  ` +
        `at ${RATE} req/s: p50 ${s.p50.toFixed(2)} ms (${signed(s.p50 - off.p50)})  p99 ${s.p99.toFixed(2)} ms (${signed(s.p99 - off.p99)})`,
    );
  }
}

const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`;

try {
  await main();
} finally {
  await group.stopAll();
}
