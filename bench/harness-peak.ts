// The broker's peak RSS in the peer harness's shape, without the peers: one Switchyard process
// (services/all, npm start's flags) serves three rounds of 10 s at BENCH_RATE req/s (32 connections),
// 10 s at max load (64) and 10 s of 20-token streams (64), about 100 s of load in one process as in
// `npm run bench`, where the peak is set by V8's old-generation limit after its last full collection
// (docs/benchmarks.md, "Memory"). Prints the idle RSS, the peak (sampled every 100 ms) and each
// round's p99 at the rate, max-load req/s, streams/s and RSS at its end.
//
//   node bench/harness-peak.ts
//   BENCH_BASELINE_DIR=/tmp/old node bench/harness-peak.ts   # another checkout's build (alternate the two)
//   BENCH_NODE_FLAGS='--heap-growing-percent=50' node bench/harness-peak.ts
import { runLoad } from './load.ts';
import { BROKER_NODE_FLAGS, benchBodies, brokerEnv, PeakMemory, ProcessGroup, rssMb } from './processes.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';

const RATE = Number(process.env.BENCH_RATE ?? 350);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FLAGS = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? BROKER_NODE_FLAGS;
const CHECKOUT = process.env.BENCH_BASELINE_DIR;
const API_KEY = 'sk-bench-harness-peak-0123456789';

const group = new ProcessGroup();
try {
  const backends = await group.startBackends('bench_harness_peak');
  const port = await freePort();
  const broker = group.run('services/all/main.ts', brokerEnv(backends, port, API_KEY), FLAGS, CHECKOUT ? { cwd: CHECKOUT } : {});
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 30_000, what: 'switchyard ready' });
  const idle = rssMb(broker.pid);
  const peak = new PeakMemory(() => [broker.pid], 100);
  const target = { url: `${url}/v1/chat/completions`, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' } };
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const moderate = await runLoad({ ...target, body: benchBodies.chat, connections: 32, durationSeconds: 10, rate: RATE });
    const max = await runLoad({ ...target, body: benchBodies.chat, connections: 64, durationSeconds: 10 });
    const streams = await runLoad({ ...target, body: benchBodies.stream, connections: 64, durationSeconds: 10 });
    if (moderate.non2xx + moderate.errors + max.non2xx + max.errors + streams.non2xx + streams.errors > 0)
      throw new Error(`round ${r + 1}: requests failed`);
    rounds.push({ p99AtRate: moderate.p99, maxRps: max.rps, streamsPerSecond: streams.rps, rssMb: Math.round(rssMb(broker.pid)) });
  }
  console.log(
    JSON.stringify(
      { checkout: CHECKOUT ?? '.', flags: FLAGS.join(' '), idleRssMb: Math.round(idle), peakRssMb: peak.stop().rssMb, rounds },
      null,
      2,
    ),
  );
} finally {
  await group.stopAll();
}
