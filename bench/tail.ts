// Where the latency tail at a moderate fixed rate comes from: the one-process broker (services/all)
// on a throwaway nats-server and Postgres with --trace-gc, warmed up on all 64 connections, then an
// open loop at BENCH_RATE for BENCH_DURATION seconds. Prints the percentiles, the worst latency per
// 250 ms of the run (a periodic stall shows as a pattern), the GC pauses from --trace-gc, and the CPU
// per request of the broker and nats-server; and how many requests took over 5 and 10 ms as the client
// saw them and in the broker's own handling, and how long its event-loop thread waited for a core.
//
//   node bench/tail.ts                                              # 300 req/s, 10 s, npm start's flags
//   BENCH_NODE_FLAGS='--max-semi-space-size=4' node bench/tail.ts   # other V8 flags for the broker
//   BENCH_STREAMING=1 node bench/tail.ts                            # 20-token streams (latency to the last byte)
//   BENCH_IDLE=240 node bench/tail.ts                               # warmed up, then idle 240 s, then measured
//   BENCH_CONNECTIONS=32 BENCH_OPEN=0 node bench/tail.ts            # bench/run.ts's rate run: 32 connections opened on demand
//
// BENCH_IDLE is the peer harness's shape (bench/run.ts warms every gateway up, then each waits while
// the others are measured): 2 s at maximum load and 15 s at the rate, that many seconds with no
// traffic, then the measured run. It prints the broker's RSS before and after the quiet spell.
import { openSync, readFileSync } from 'node:fs';
import { runLoad, served } from './load.ts';
import { benchBodies, BROKER_NODE_FLAGS, cpuSeconds, ProcessGroup, rssMb } from './processes.ts';

const RATE = Number(process.env.BENCH_RATE ?? 300);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const STREAMING = process.env.BENCH_STREAMING === '1';
const IDLE_SECONDS = Number(process.env.BENCH_IDLE ?? 0);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
// BENCH_OPEN=0: connections opened as the load needs them, as bench/run.ts's fixed-rate run does.
const OPEN_ALL = process.env.BENCH_OPEN !== '0';
const FLAGS = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? BROKER_NODE_FLAGS;
const GC_LOG = '.data/tail-gc.log';
/** The broker's own handling time is read from this histogram (le bounds in seconds). */
const HANDLING = /^switchyard_request_duration_seconds_bucket\{.*le="([^"]+)".*\} (\d+)/;
const API_KEY = 'sk-bench';

async function main() {
  const group = new ProcessGroup();
  let gcLinesBefore = 0; // with BENCH_IDLE, the GC lines of the warm-up are left out
  try {
    const backends = await group.startBackends('tail');
    // --trace-gc writes to stdout: kept in a file and read at the end.
    const { process: broker, url: sy } = await group.startBroker(backends, API_KEY, {
      flags: [...FLAGS, '--trace-gc'],
      stdout: openSync(GC_LOG, 'w'),
    });

    const url = `${sy}/v1/chat/completions`;
    const body = STREAMING ? benchBodies.stream : benchBodies.chat;
    const headers = { authorization: `Bearer ${API_KEY}` };
    if (IDLE_SECONDS > 0) {
      await runLoad({ url, body, headers, connections: 16, durationSeconds: 2 });
      await runLoad({ url, body, headers, connections: 64, rate: RATE, durationSeconds: 15, openAllConnections: true });
      const warm = rssMb(broker.pid);
      await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
      console.log(`broker RSS ${warm} MB after the warm-up, ${rssMb(broker.pid)} MB after ${IDLE_SECONDS} s idle`);
      gcLinesBefore = readFileSync(GC_LOG, 'utf8').split('\n').length - 1;
    }
    const samples: Array<[number, number]> = []; // [due ms since start, latency ms]
    // CPU per request at a fixed rate: steadier than at maximum load, where the machine's other
    // processes decide how much the broker gets. Counted over the whole load (warm-up included).
    const cpu0 = cpuSeconds(broker.pid);
    const natsCpu0 = cpuSeconds(backends.nats.pid());
    // The broker's handling time (request received to response finished) against the client's, and
    // the time its event-loop thread spent runnable but waiting for a core (/proc/<pid>/schedstat):
    // what a client sees beyond the broker's handling is the machine's, not the broker's code.
    const handled0 = await handlingOver(sy);
    const sched0 = schedStat(broker.pid!);
    // runLoad's warm-up second (and, unless BENCH_OPEN=0, every connection opened first) before anything is measured.
    const r = await runLoad({
      url,
      body,
      headers,
      connections: CONNECTIONS,
      rate: RATE,
      durationSeconds: DURATION,
      openAllConnections: OPEN_ALL,
      onSample: (due, latency) => void samples.push([due, latency]),
    });

    console.log(`${r.requests} requests at ${RATE} req/s (${r.errors + r.non2xx} failed), flags ${FLAGS.join(' ') || '(none)'}`);
    const sent = served(r); // the warm-up and the connection-opening rounds included
    const us = (seconds: number) => Math.round((seconds * 1e6) / sent);
    console.log(
      `CPU per request: broker ${us(cpuSeconds(broker.pid) - cpu0)} µs, nats-server ${us(cpuSeconds(backends.nats.pid()) - natsCpu0)} µs`,
    );
    console.log(`latency p50 ${r.p50} ms, p90 ${r.p90} ms, p99 ${r.p99} ms, max ${r.max} ms`);
    const slow = (ms: number) => samples.filter(([, l]) => l > ms).length;
    const handled = await handlingOver(sy);
    const handledOver = (s: string) => (handled.get(s) ?? 0) - (handled0.get(s) ?? 0);
    console.log(
      `over 5 / 10 ms: ${slow(5)} / ${slow(10)} requests as the client saw them, ${handledOver('0.005')} / ${handledOver('0.01')} in the broker's own handling (switchyard_request_duration_seconds, the warm-up second included)`,
    );
    const sched = schedStat(broker.pid!);
    const slices = sched.slices - sched0.slices;
    console.log(
      `broker event-loop thread: ran ${Math.round((sched.ranNs - sched0.ranNs) / 1e6)} ms, waited for a core ${Math.round((sched.waitedNs - sched0.waitedNs) / 1e6)} ms in ${slices} slices (${(slices / sent).toFixed(1)} per request)`,
    );
    const worst = new Map<number, number>();
    for (const [t, l] of samples) worst.set(Math.floor(t / 250), Math.max(worst.get(Math.floor(t / 250)) ?? 0, l));
    console.log(
      `worst per 250 ms: ${[...worst]
        .sort((a, b) => a[0] - b[0])
        .map(([, l]) => Math.round(l))
        .join(' ')}`,
    );
  } finally {
    await group.stopAll();
  }
  const lines = readFileSync(GC_LOG, 'utf8').split('\n').slice(gcLinesBefore);
  for (const [kind, re] of [
    ['scavenges', /Scavenge/],
    ['mark-compacts', /Mark-Compact/],
  ] as const) {
    const ms = lines
      .filter((l) => re.test(l))
      .map((l) => Number(/, ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1] ?? 0))
      .sort((a, b) => a - b);
    if (ms.length)
      console.log(
        `${kind} (${gcLinesBefore ? 'measured run' : 'whole run'}): ${ms.length}, pause p50 ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms`,
      );
  }
}

/** Requests the broker handled in more than each bucket bound so far (all routes), by bound. */
async function handlingOver(brokerUrl: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await (await fetch(`${brokerUrl}/metrics`)).text()).split('\n')) {
    const m = HANDLING.exec(line);
    if (m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + Number(m[2]));
  }
  const total = counts.get('+Inf') ?? 0;
  return new Map([...counts].map(([le, n]) => [le, total - n]));
}

/** The main thread's time on a core, time runnable but waiting, and slices run (Linux schedstat). */
function schedStat(pid: number): { ranNs: number; waitedNs: number; slices: number } {
  const [ranNs = 0, waitedNs = 0, slices = 0] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { ranNs, waitedNs, slices };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
