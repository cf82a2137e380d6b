// Side-by-side measurement of performance levers: each variant is a fresh nats-server + database +
// Switchyard with one setting changed, driven by the same closed-loop load (non-streaming, 64
// connections) and, optionally, streaming. Variants run interleaved (A B C A B C ...) so a machine
// whose speed drifts during the run biases none of them; the table reports medians per variant.
//
//   node bench/levers.ts                                   # the default variant list below
//   BENCH_VARIANTS=base,nats215 BENCH_ROUNDS=3 node bench/levers.ts
//   BENCH_DURATION=8 BENCH_STREAMING=1 node bench/levers.ts
//   BENCH_STREAM_TOKENS=100 BENCH_STREAM_ITL_MS=1 BENCH_STREAMING=1 node bench/levers.ts   # a read per token
//   BENCH_RATE=600 node bench/levers.ts    # also a fixed-rate load: CPU per request and tail there
//
// CPU per request at a fixed rate is the steadier comparison: at maximum load the share of the two
// cores the broker gets depends on every other process, and a variant's throughput moves with it.
//
// Before/after a code change: check the old commit out beside this one (its node_modules may be a
// symlink to this one's when the dependencies did not change) and name it; the variant `before` runs
// the same services from there, interleaved with the others:
//   git worktree add /tmp/before HEAD~1 && ln -s $PWD/node_modules /tmp/before/node_modules
//   BENCH_BASELINE_DIR=/tmp/before BENCH_VARIANTS=before,base node bench/levers.ts
// An experiment kept as a patch (bench/experiments/) is measured the same way, from a checkout of
// the commit the patch names with the patch applied; BENCH_BASELINE_ENV="K=V,..." sets its switches.
//
// The nats215 variant needs nats-server 2.15 at NATS_215_BIN (default .data/bin/nats-server-2.15.3):
//   GOBIN=$PWD/.data/gobin go install github.com/nats-io/nats-server/v2@v2.15.3
//   mv .data/gobin/nats-server .data/bin/nats-server-2.15.3
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, runLoad, served } from './load.ts';
import { benchBodies, BROKER_NODE_FLAGS, brokerEnv, LEAN_NODE_FLAGS, cpuSeconds, PeakMemory, ProcessGroup } from './processes.ts';
import { startNatsServer, type NatsServer } from '../test/harness/nats-server.ts';
import { createDatabase, startPostgres } from '../test/harness/postgres.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';
import { nodeFlagsOf, npmScriptsIn } from '../test/harness/npm-scripts.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const STREAMING = process.env.BENCH_STREAMING === '1';
const RATE = Number(process.env.BENCH_RATE ?? 0);
const NATS_215 = resolve(process.env.NATS_215_BIN ?? '.data/bin/nats-server-2.15.3');
const API_KEY = 'sk-bench';

interface Variant {
  /** Short name used in BENCH_VARIANTS and the table. */
  name: string;
  what: string;
  natsBin?: string;
  /** nats-server's own extra environment (Go's GOGC, GOMEMLIMIT). */
  natsEnv?: Record<string, string>;
  env?: Record<string, string>;
  nodeFlags?: string[];
  /** 0 = one process (services/all), n = ingress + ledger + n workers. */
  workers?: number;
  /** Flags per service (ingress, ledger, worker), instead of nodeFlags for all. */
  serviceFlags?: (service: string) => string[];
  /** Pin nats-server to core 1 and the broker processes to core 0 (taskset). */
  pin?: boolean;
  /** Another checkout to run the services from (BENCH_BASELINE_DIR). */
  cwd?: string;
  /** Run the services' .ts sources through Node's type stripping instead of their compiled copy in dist/. */
  source?: boolean;
}

const DEFAULT_FLAGS = BROKER_NODE_FLAGS;

/** The nats-server environment `npm start` gives in another checkout: its embeddedNatsEnv, or Go's default before it had one. */
async function natsEnvOf(dir: string): Promise<Record<string, string>> {
  const scripts = (await import(pathToFileURL(resolve(dir, 'scripts/ensure-services.mjs')).href)) as {
    embeddedNatsEnv?: (env: NodeJS.ProcessEnv) => NodeJS.ProcessEnv;
  };
  const own = scripts.embeddedNatsEnv?.({}) ?? {};
  return { GOMAXPROCS: own.GOMAXPROCS ?? String(availableParallelism()), GOGC: own.GOGC ?? '100' };
}
const BASELINE_DIR = process.env.BENCH_BASELINE_DIR ? resolve(process.env.BENCH_BASELINE_DIR) : undefined;
const BASELINE_NATS_ENV = BASELINE_DIR ? await natsEnvOf(BASELINE_DIR) : undefined;
/** Extra environment for the baseline's services only (BENCH_BASELINE_ENV="K=V,K2=V2"), e.g. a switch of an experiment's patch. */
const BASELINE_ENV = Object.fromEntries(
  (process.env.BENCH_BASELINE_ENV ?? '')
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]),
);
// Node 24 (maintenance LTS since 2026-10-20), what npm start ran before Node 26, with the flag only
// its V8 (13.6) has and npm start then passed; npm start's other flags are the same.
const NODE24_ENV = { BENCH_SERVICE_NODE: process.env.BENCH_NODE24 ?? resolve('.data/node24/node_modules/.bin/node') };
const NODE24_FLAGS = [...BROKER_NODE_FLAGS, '--no-memory-reducer-favors-memory'];
const VARIANTS: Variant[] = [
  { name: 'base', what: `as shipped: one process, file-stored requests, npm start's flags (${BROKER_NODE_FLAGS.join(' ')})` },
  // The baseline as it shipped: its own code and its own `npm start` flags.
  ...(BASELINE_DIR
    ? [
        {
          name: 'before',
          what: `the same from ${BASELINE_DIR} (BENCH_BASELINE_DIR${Object.keys(BASELINE_ENV).length ? `, ${JSON.stringify(BASELINE_ENV)}` : ''}), with its npm start flags (${nodeFlagsOf('start', npmScriptsIn(BASELINE_DIR)).join(' ')}) and nats-server GOMAXPROCS=${BASELINE_NATS_ENV!.GOMAXPROCS}`,
          cwd: BASELINE_DIR,
          nodeFlags: nodeFlagsOf('start', npmScriptsIn(BASELINE_DIR)),
          natsEnv: BASELINE_NATS_ENV!,
          env: BASELINE_ENV,
        },
      ]
    : []),
  {
    name: 'node24',
    what: `our services on Node 24 (BENCH_NODE24, default .data/node24/node_modules/.bin/node: npm i --prefix .data/node24 node@24), npm start's flags plus --no-memory-reducer-favors-memory`,
    env: NODE24_ENV,
    nodeFlags: NODE24_FLAGS,
  },
  { name: 'loginfo', what: 'LOG_LEVEL=info (the default: one access line per request) instead of warn', env: { LOG_LEVEL: 'info' } },
  { name: 'nats215', what: 'nats-server 2.15.3 instead of the PATH one', natsBin: NATS_215 },
  // npm start runs nats-server with GOGC=50 (lever "natsgogc50, again"); natsgogc100 is Go's default, as before it.
  { name: 'natsgogc100', what: "nats-server with GOGC=100 (Go's default: its heap grows to 2x live, not 1.5x)", natsEnv: { GOGC: '100' } },
  { name: 'natsgogc50', what: 'nats-server with GOGC=50 (Go heap grows to 1.5x live, not 2x; npm start sets it)', natsEnv: { GOGC: '50' } },
  { name: 'natsgogc25', what: 'nats-server with GOGC=25', natsEnv: { GOGC: '25' } },
  // npm start runs nats-server with GOMAXPROCS=1 (lever "natsprocs1"); this is Go's default, as before it.
  {
    name: 'natsprocsall',
    what: `nats-server with GOMAXPROCS=${availableParallelism()} (Go's default: one scheduler thread per core)`,
    natsEnv: { GOMAXPROCS: String(availableParallelism()) },
  },
  { name: 'memstore', what: 'LLM_REQUESTS in memory storage', env: { NATS_REQUEST_STORAGE: 'memory' } },
  {
    name: 'eventsmemory',
    what: 'LLM_EVENTS in memory storage (EVENTS_STORAGE=memory; the default is file)',
    env: { EVENTS_STORAGE: 'memory' },
  },
  {
    name: 'events16',
    what: 'EVENTS_MAX_BYTES=16 MiB (LLM_EVENTS, the resume buffer; default 512 MiB)',
    env: { EVENTS_MAX_BYTES: String(16 * 1024 * 1024) },
  },
  { name: 'semi32', what: '--max-semi-space-size=32 --liftoff-only', nodeFlags: ['--max-semi-space-size=32', '--liftoff-only'] },
  { name: 'semi8', what: '--max-semi-space-size=8', nodeFlags: ['--max-semi-space-size=8'] },
  { name: 'semi4', what: '--max-semi-space-size=4', nodeFlags: ['--max-semi-space-size=4'] },
  { name: 'semidefault', what: 'no V8 heap flags', nodeFlags: [] },
  {
    name: 'memsaver',
    what: "--memory-saver-mode (V8's memory saver: smaller heap for more GC work)",
    nodeFlags: ['--max-semi-space-size=16', '--memory-saver-mode'],
  },
  {
    name: 'memsaver8',
    what: '--memory-saver-mode --max-semi-space-size=8',
    nodeFlags: ['--max-semi-space-size=8', '--memory-saver-mode'],
  },
  {
    name: 'noliftoff',
    what: "npm start's flags without --liftoff-only (WebAssembly, e.g. undici's HTTP parser, also optimised by TurboFan)",
    nodeFlags: BROKER_NODE_FLAGS.filter((f) => f !== '--liftoff-only'),
  },
  // After each full GC V8 lets the old generation grow to (1 + N/100) x the live heap: a soft limit, no cap.
  ...[10, 25, 30, 50, 100].map((n) => ({
    name: `grow${n}`,
    what: `--heap-growing-percent=${n}`,
    nodeFlags: [...BROKER_NODE_FLAGS, `--heap-growing-percent=${n}`],
  })),
  { name: 'grow50semi8', what: `npm run start:lean's flags (${LEAN_NODE_FLAGS.join(' ')})`, nodeFlags: LEAN_NODE_FLAGS },
  {
    name: 'grow10semi8',
    what: '--heap-growing-percent=10 --max-semi-space-size=8',
    nodeFlags: [...BROKER_NODE_FLAGS, '--max-semi-space-size=8', '--heap-growing-percent=10'],
  },
  { name: 'leanpool1', what: `npm run start:lean's flags plus --v8-pool-size=1`, nodeFlags: [...LEAN_NODE_FLAGS, '--v8-pool-size=1'] },
  {
    name: 'oldmin64',
    what: `npm start's flags plus --initial-old-space-size=64 (no full GC below a 64 MB old generation)`,
    nodeFlags: [...BROKER_NODE_FLAGS, '--initial-old-space-size=64'],
  },
  {
    // What base was before `npm start` took an --initial-old-space-size floor (levers rows "oldmin128", "oldmin112").
    name: 'nooldmin',
    what: `npm start's flags without its --initial-old-space-size floor (V8's own old-generation limit)`,
    nodeFlags: BROKER_NODE_FLAGS.filter((f) => !f.startsWith('--initial-old-space-size')),
  },
  // npm start's flags plus one change, for the streaming phase's peak (BENCH_STREAMING=1).
  {
    name: 'startsemi8',
    what: `npm start's flags with --max-semi-space-size=8`,
    nodeFlags: [...BROKER_NODE_FLAGS, '--max-semi-space-size=8'],
  },
  // A young generation that fits in the CPU's cache: at a moderate rate each request runs on cold caches.
  {
    name: 'startsemi2',
    what: `npm start's flags with --max-semi-space-size=2`,
    nodeFlags: [...BROKER_NODE_FLAGS, '--max-semi-space-size=2'],
  },
  {
    name: 'startgrow50',
    what: `npm start's flags plus --heap-growing-percent=50`,
    nodeFlags: [...BROKER_NODE_FLAGS, '--heap-growing-percent=50'],
  },
  // V8's scavenges and marking on the main thread only: no helper threads to wake at a moderate rate.
  {
    name: 'startstgc',
    what: `npm start's flags plus --single-threaded-gc`,
    nodeFlags: [...BROKER_NODE_FLAGS, '--single-threaded-gc'],
  },
  {
    name: 'startold96',
    what: `npm start's flags plus --max-old-space-size=96`,
    nodeFlags: [...BROKER_NODE_FLAGS, '--max-old-space-size=96'],
  },
  // V8's mid-tier compiler on or off: its code and the shapes it keeps are part of the broker's peak.
  // npm start has passed --no-maglev since this lever, so nomaglev is base now and maglev the old default.
  {
    name: 'nomaglev',
    what: `npm start's flags plus --no-maglev`,
    nodeFlags: [...BROKER_NODE_FLAGS.filter((f) => f !== '--no-maglev'), '--no-maglev'],
  },
  {
    name: 'maglev',
    what: `npm start's flags without --no-maglev (V8's default)`,
    nodeFlags: BROKER_NODE_FLAGS.filter((f) => f !== '--no-maglev'),
  },
  {
    name: 'nosparkplug',
    what: `npm start's flags plus --no-sparkplug (no baseline compiler either: the interpreter until TurboFan)`,
    nodeFlags: [...BROKER_NODE_FLAGS, '--no-sparkplug'],
  },
  {
    name: 'leannomaglev',
    what: `npm run start:lean's flags plus --no-maglev`,
    nodeFlags: [...LEAN_NODE_FLAGS.filter((f) => f !== '--no-maglev'), '--no-maglev'],
  },
  { name: 'source', what: 'the .ts sources through Node type stripping instead of dist/ (scripts/build.mjs)', source: true },
  { name: 'sourcelean', what: `the .ts sources with npm run start:lean's flags`, source: true, nodeFlags: LEAN_NODE_FLAGS },
  { name: 'split', what: 'ingress, ledger and one worker as three processes', workers: 1 },
  {
    name: 'splitnpm',
    what: 'ingress, ledger and one worker, each with its own npm script flags (npm run ingress / ledger / worker)',
    workers: 1,
    serviceFlags: (service) => nodeFlagsOf(service),
  },
  {
    name: 'splitnomaglev',
    what: 'splitnpm with --no-maglev added to every service',
    workers: 1,
    serviceFlags: (service) => [...nodeFlagsOf(service).filter((f) => f !== '--no-maglev'), '--no-maglev'],
  },
  {
    name: 'splitmaglev',
    what: 'splitnpm with --no-maglev taken from every service (V8 default)',
    workers: 1,
    serviceFlags: (service) => nodeFlagsOf(service).filter((f) => f !== '--no-maglev'),
  },
  {
    name: 'splitoldmin',
    what: 'splitnpm with --initial-old-space-size=128 added to the ingress and the worker',
    workers: 1,
    serviceFlags: (service) => [...nodeFlagsOf(service), ...(service === 'ledger' ? [] : ['--initial-old-space-size=128'])],
  },
  { name: 'conc256', what: 'WORKER_CONCURRENCY=256 (pull batch 256 -> 256 in flight)', env: { WORKER_CONCURRENCY: '256' } },
  { name: 'pinned', what: 'nats-server pinned to core 1, broker to core 0 (taskset)', pin: true },
  {
    name: 'old128',
    what: '--max-semi-space-size=16 --max-old-space-size=128',
    nodeFlags: ['--max-semi-space-size=16', '--max-old-space-size=128'],
  },
  {
    name: 'old160',
    what: '--max-semi-space-size=16 --max-old-space-size=160',
    nodeFlags: ['--max-semi-space-size=16', '--max-old-space-size=160'],
  },
  { name: 'sizeopt', what: '--max-semi-space-size=16 --optimize-for-size', nodeFlags: ['--max-semi-space-size=16', '--optimize-for-size'] },
  { name: 'stgc', what: '--max-semi-space-size=16 --single-threaded-gc', nodeFlags: ['--max-semi-space-size=16', '--single-threaded-gc'] },
  {
    name: 'arena2',
    what: 'MALLOC_ARENA_MAX=2 (glibc keeps two malloc arenas instead of up to 8 per core)',
    env: { MALLOC_ARENA_MAX: '2' },
  },
  {
    name: 'pool1',
    what: '--max-semi-space-size=16 --v8-pool-size=1 (one V8 background thread)',
    nodeFlags: ['--max-semi-space-size=16', '--v8-pool-size=1'],
  },
  {
    name: 'stgcarena2',
    what: '--single-threaded-gc and MALLOC_ARENA_MAX=2',
    nodeFlags: ['--max-semi-space-size=16', '--single-threaded-gc'],
    env: { MALLOC_ARENA_MAX: '2' },
  },
  {
    name: 'semi8old96',
    what: '--max-semi-space-size=8 --max-old-space-size=96',
    nodeFlags: ['--max-semi-space-size=8', '--max-old-space-size=96'],
  },
];

/** Restricts every thread of `pid` to `cpu` (taskset -a); a machine without taskset is not pinned. */
function pin(pid: number | undefined, cpu: number): void {
  if (pid) spawnSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' });
}

interface Sample {
  variant: string;
  rps: number;
  p50: number;
  p99: number;
  brokerCpuUs: number;
  natsCpuUs: number;
  brokerRssMb: number;
  natsRssMb: number;
  streamRps?: number;
  /** BENCH_STREAMING: the broker's peak RSS during the non-streaming max load alone, and during the streaming load alone. */
  maxLoadRssMb?: number;
  /** BENCH_STREAMING: broker and nats-server CPU per stream, together. */
  streamCpuUs?: number;
  streamRssMb?: number;
  /** BENCH_RATE: the same at a fixed rate (open loop, every connection opened first). */
  rateP50?: number;
  rateP99?: number;
  rateCpuUs?: number;
  rateNatsCpuUs?: number;
}

const { chat, stream } = benchBodies;

async function measure(v: Variant, pgUrl: string, mockUrl: string, round: number): Promise<Sample> {
  const group = new ProcessGroup();
  let nats: NatsServer | null = null;
  try {
    nats = await startNatsServer({ ...(v.natsBin ? { bin: v.natsBin } : {}), ...(v.natsEnv ? { env: v.natsEnv } : {}) });
    const databaseUrl = await createDatabase(pgUrl, `levers_${v.name}_${round}`);
    const port = await freePort();
    const env = { ...brokerEnv({ nats, databaseUrl, mockUrl }, port, API_KEY), ...v.env };
    const flags = v.nodeFlags ?? DEFAULT_FLAGS;
    const pids: Array<number | undefined> = [];
    const run = (script: string): ChildProcess => {
      const service = /^services\/(\w+)\//.exec(script)![1]!;
      return group.run(script, env, v.serviceFlags ? v.serviceFlags(service) : flags, { cwd: v.cwd, source: v.source });
    };
    if (!v.workers) pids.push(run('services/all/main.ts').pid);
    else {
      pids.push(run('services/ingress/main.ts').pid, run('services/ledger/main.ts').pid);
      for (let i = 0; i < v.workers; i++) pids.push(run('services/worker/main.ts').pid);
    }
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, { timeoutMs: 30_000, what: `${v.name} ready` });
    if (v.pin) {
      pin(nats.pid(), 1);
      for (const p of pids) pin(p, 0);
    }
    const headers = { authorization: `Bearer ${API_KEY}` };
    await runLoad({ url, body: chat, headers, connections: 16, durationSeconds: 2 }); // JIT, pools, keep-alive
    const memory = new PeakMemory(() => pids);
    const natsMemory = new PeakMemory(() => [nats?.pid()]);
    const brokerCpu = () => pids.reduce<number>((sum, p) => sum + cpuSeconds(p), 0);
    const cpu0 = brokerCpu();
    const natsCpu0 = cpuSeconds(nats.pid());
    const maxLoadMemory = new PeakMemory(() => pids);
    const r = await runLoad({ url, body: chat, headers, connections: CONNECTIONS, durationSeconds: DURATION });
    const maxLoadRssMb = maxLoadMemory.stop().rssMb;
    const cpu1 = brokerCpu();
    const natsCpu1 = cpuSeconds(nats.pid());
    if (r.non2xx || r.errors) throw new Error(`${v.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    let streamRps: number | undefined;
    let streamRssMb: number | undefined;
    let streamCpuUs: number | undefined;
    if (STREAMING) {
      const streamMemory = new PeakMemory(() => pids);
      const c0 = brokerCpu() + cpuSeconds(nats.pid());
      const sr = await runLoad({ url, body: stream, headers, connections: CONNECTIONS, durationSeconds: DURATION });
      const c1 = brokerCpu() + cpuSeconds(nats.pid());
      streamRps = sr.rps;
      streamCpuUs = Math.round(((c1 - c0) * 1e6) / served(sr));
      streamRssMb = streamMemory.stop().rssMb;
    }
    let atRate: Pick<Sample, 'rateP50' | 'rateP99' | 'rateCpuUs' | 'rateNatsCpuUs'> = {};
    if (RATE) {
      const c0 = brokerCpu();
      const n0 = cpuSeconds(nats.pid());
      const f = await runLoad({
        url,
        body: chat,
        headers,
        connections: CONNECTIONS,
        rate: RATE,
        durationSeconds: DURATION,
        openAllConnections: true,
      });
      const sent = served(f);
      atRate = {
        rateP50: +f.p50.toFixed(2),
        rateP99: +f.p99.toFixed(2),
        rateCpuUs: Math.round(((brokerCpu() - c0) * 1e6) / sent),
        rateNatsCpuUs: Math.round(((cpuSeconds(nats.pid()) - n0) * 1e6) / sent),
      };
    }
    const mem = memory.stop();
    const natsMem = natsMemory.stop();
    const sample: Sample = {
      variant: v.name,
      rps: Math.round(r.rps),
      p50: +r.p50.toFixed(2),
      p99: +r.p99.toFixed(2),
      brokerCpuUs: Math.round(((cpu1 - cpu0) * 1e6) / served(r)),
      natsCpuUs: Math.round(((natsCpu1 - natsCpu0) * 1e6) / served(r)),
      brokerRssMb: Math.round(mem.rssMb),
      natsRssMb: Math.round(natsMem.rssMb),
      ...(streamRps !== undefined ? { streamRps: Math.round(streamRps), streamCpuUs, maxLoadRssMb, streamRssMb } : {}),
      ...atRate,
    };
    console.log(JSON.stringify(sample));
    return sample;
  } finally {
    await group.stopAll();
    await nats?.stop();
  }
}

async function main() {
  const wanted = (process.env.BENCH_VARIANTS ?? VARIANTS.map((v) => v.name).join(',')).split(',').map((s) => s.trim());
  const variants = wanted.map((name) => {
    const v = VARIANTS.find((x) => x.name === name);
    if (!v) throw new Error(`unknown variant ${name} (known: ${VARIANTS.map((x) => x.name).join(', ')})`);
    if (v.natsBin && !existsSync(v.natsBin)) throw new Error(`${name}: no nats-server at ${v.natsBin} (see the header of this file)`);
    return v;
  });
  const pg = await startPostgres();
  const mockGroup = new ProcessGroup();
  const mockUrl = (await mockGroup.startMock()).url;
  console.log(
    `levers: ${variants.map((v) => v.name).join(', ')}; ${ROUNDS} rounds of ${DURATION}s, ${CONNECTIONS} connections, node ${process.version}`,
  );
  const samples: Sample[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) for (const v of variants) samples.push(await measure(v, pg.url, mockUrl, round));
  } finally {
    await mockGroup.stopAll();
    await pg.destroy();
  }
  const base = variants[0]!.name;
  const med = (name: string, k: keyof Sample) => median(samples.filter((s) => s.variant === name).map((s) => Number(s[k] ?? 0)));
  const lines = [
    `| variant | what | req/s | vs ${base} | p50 ms | p99 ms | broker CPU µs/req | nats-server CPU µs/req | broker peak RSS MB | nats-server RSS MB |${STREAMING ? ' streams/s | CPU µs/stream (broker + nats-server) |' : ''}${RATE ? ` at ${RATE} req/s: p50 / p99 ms | broker / nats-server CPU µs/req |` : ''}`,
    `|---|---|---|---|---|---|---|---|---|---|${STREAMING ? '---|---|' : ''}${RATE ? '---|---|' : ''}`,
  ];
  for (const v of variants) {
    const rps = med(v.name, 'rps');
    lines.push(
      `| ${v.name} | ${v.what} | ${Math.round(rps)} | ${(rps / med(base, 'rps')).toFixed(2)}× | ${med(v.name, 'p50').toFixed(1)} | ${med(v.name, 'p99').toFixed(1)} | ${Math.round(med(v.name, 'brokerCpuUs'))} | ${Math.round(med(v.name, 'natsCpuUs'))} | ${Math.round(med(v.name, 'brokerRssMb'))} | ${Math.round(med(v.name, 'natsRssMb'))} |${STREAMING ? ` ${Math.round(med(v.name, 'streamRps'))} | ${Math.round(med(v.name, 'streamCpuUs'))} |` : ''}${RATE ? ` ${med(v.name, 'rateP50').toFixed(2)} / ${med(v.name, 'rateP99').toFixed(1)} | ${Math.round(med(v.name, 'rateCpuUs'))} / ${Math.round(med(v.name, 'rateNatsCpuUs'))} |` : ''}`,
    );
  }
  console.log(`\n${lines.join('\n')}\n`);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/levers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify({ variants, samples, table: lines }, null, 2));
  console.log(`written: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
