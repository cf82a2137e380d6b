// The broker's peak RSS in the peer harness's shape, without the peers: one Switchyard process
// (services/all, npm start's flags) serves three rounds of 10 s at BENCH_RATE req/s (32 connections),
// 10 s at max load (64) and 10 s of 20-token streams (64), about 100 s of load in one process as in
// `npm run bench`, where the peak is set by V8's old-generation limit after its last full collection
// (docs/benchmarks.md, "Memory"). Prints the idle RSS, the peak (sampled every 100 ms) and each
// round's p99 at the rate, max-load req/s (with its latency percentiles), streams/s, RSS at its end,
// and for each of its three phases the peak RSS and the broker's CPU per request.
//
//   node bench/harness-peak.ts
//   BENCH_BASELINE_DIR=/tmp/old node bench/harness-peak.ts   # another checkout's build (alternate the two)
//   BENCH_NODE_FLAGS='--heap-growing-percent=50' node bench/harness-peak.ts
//   BENCH_BROKER_STDOUT=/tmp/gc.log BENCH_NODE_FLAGS='<npm start's flags> --trace-gc' node bench/harness-peak.ts
import { openSync } from 'node:fs';
import { runLoad, served, type LoadResult } from './load.ts';
import { BROKER_NODE_FLAGS, benchBodies, cpuSeconds, PeakMemory, ProcessGroup, rssMb } from './processes.ts';

const RATE = Number(process.env.BENCH_RATE ?? 350);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FLAGS = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? BROKER_NODE_FLAGS;
const CHECKOUT = process.env.BENCH_BASELINE_DIR;
const API_KEY = 'sk-bench-harness-peak-0123456789';

const group = new ProcessGroup();
try {
  const backends = await group.startBackends('bench_harness_peak');
  const { process: broker, url } = await group.startBroker(backends, API_KEY, {
    flags: FLAGS,
    ...(CHECKOUT ? { cwd: CHECKOUT } : {}),
    ...(process.env.BENCH_BROKER_STDOUT ? { stdout: openSync(process.env.BENCH_BROKER_STDOUT, 'w') } : {}),
  });
  const idle = rssMb(broker.pid);
  const peak = new PeakMemory(() => [broker.pid], 100);
  const target = { url: `${url}/v1/chat/completions`, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' } };
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Each phase's own peak too: which load sets the run's.
    const phasePeaks: number[] = [];
    const phaseCpuUs: number[] = [];
    const phase = async (load: () => Promise<LoadResult>): Promise<LoadResult> => {
      const phasePeak = new PeakMemory(() => [broker.pid], 100);
      const cpu0 = cpuSeconds(broker.pid);
      try {
        const result = await load();
        // The broker's CPU per request served (its own process; nats-server and Postgres not counted).
        phaseCpuUs.push(Math.round(((cpuSeconds(broker.pid) - cpu0) * 1e6) / served(result)));
        return result;
      } finally {
        phasePeaks.push(phasePeak.stop().rssMb);
      }
    };
    const moderate = await phase(() => runLoad({ ...target, body: benchBodies.chat, connections: 32, durationSeconds: 10, rate: RATE }));
    const max = await phase(() => runLoad({ ...target, body: benchBodies.chat, connections: 64, durationSeconds: 10 }));
    const streams = await phase(() => runLoad({ ...target, body: benchBodies.stream, connections: 64, durationSeconds: 10 }));
    if (moderate.non2xx + moderate.errors + max.non2xx + max.errors + streams.non2xx + streams.errors > 0)
      throw new Error(`round ${r + 1}: requests failed`);
    rounds.push({
      p99AtRate: moderate.p99,
      maxRps: max.rps,
      maxLatencyMs: [max.p50, max.p90, max.p99, max.max],
      streamsPerSecond: streams.rps,
      rssMb: Math.round(rssMb(broker.pid)),
      phasePeakRssMb: phasePeaks,
      brokerCpuUsPerRequest: phaseCpuUs,
    });
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
