// Where the broker's CPU goes: runs the one-process broker (services/all, npm start's heap flags) on a
// throwaway nats-server and Postgres with --cpu-prof, drives it with the closed-loop load of
// bench/levers.ts, stops it with SIGTERM (the profile is written at exit) and prints self time by
// package/file and by function, plus inclusive time of our own functions.
//
//   node bench/profile.ts                       # 8 s non-streaming, 64 connections
//   BENCH_RATE=350 node bench/profile.ts        # an open loop at that fixed rate instead (the added-
//                                               # latency load of bench/run.ts), on 64 open connections
//   BENCH_STREAMING=1 node bench/profile.ts     # 20-token streams instead (BENCH_STREAM_TOKENS,
//                                               # BENCH_STREAM_ITL_MS: another length, tokens apart)
//   BENCH_ALLOC=1 node bench/profile.ts         # where it allocates instead: KB per request by
//                                               # package and function (V8's sampling heap profiler
//                                               # through the inspector, collected objects included)
//   BENCH_ALLOC=survivors node bench/profile.ts # only what outlived a scavenge: what fills the old
//                                               # generation (and so the peak RSS)
//
// The profile is kept in .data/prof/ for Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { runLoad, served } from './load.ts';
import { benchBodies, BROKER_NODE_FLAGS, ProcessGroup } from './processes.ts';
import { Inspector } from '../test/harness/inspector.ts';
import { freePort } from '../test/harness/ports.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const STREAMING = process.env.BENCH_STREAMING === '1';
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
const TOP = Number(process.env.BENCH_TOP ?? 30);
const ALLOC = process.env.BENCH_ALLOC === '1' || process.env.BENCH_ALLOC === 'survivors';
const SURVIVORS = process.env.BENCH_ALLOC === 'survivors';
const API_KEY = 'sk-bench';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const root = resolve('.');
const shortUrl = (u: string) => u.replace(`file://${root}/`, '').replace(/^.*node_modules\//, 'nm/');

/** Package name for node_modules files, the path for ours, the function for builtins like (garbage collector). */
function bucket(cf: ProfileNode['callFrame']): string {
  const u = shortUrl(cf.url);
  if (!u) return cf.functionName;
  if (u.startsWith('nm/'))
    return u
      .split('/')
      .slice(0, u.startsWith('nm/@') ? 3 : 2)
      .join('/');
  return u;
}

/** `name file:line` of a frame, 1-based line. */
const fnKey = (cf: ProfileNode['callFrame']) => `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

/** The `top` largest entries of m under a title, each value formatted by cell. */
function topTable(title: string, m: Map<string, number>, top: number, cell: (v: number) => string): string {
  return [
    `\n${title}`,
    ...[...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${cell(v)}  ${k}`),
  ].join('\n');
}

export function summarize(p: CpuProfile, top: number): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    total += d;
    self.set(id, (self.get(id) ?? 0) + d);
  });
  const byBucket = new Map<string, number>();
  const byFn = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const cf = byId.get(id)!.callFrame;
    add(byBucket, bucket(cf), t);
    add(byFn, fnKey(cf), t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = fnKey(byId.get(cur)!.callFrame);
      // Ours: the sources, or their compiled copy in dist/ (what the broker runs).
      if (/^\S+ (dist\/)?(services|shared)\//.test(k) && !seen.has(k)) {
        seen.add(k);
        add(inclusive, k, t);
      }
    }
  }
  const table = (title: string, m: Map<string, number>) => topTable(title, m, top, (t) => `${((100 * t) / total).toFixed(1).padStart(6)}%`);
  return [
    table('self time by package / file', byBucket),
    table('self time by function', byFn),
    table('inclusive time, services/ and shared/', inclusive),
  ].join('\n');
}

interface AllocationNode {
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: AllocationNode[];
}

/** A sampling heap profile as KB allocated per request, by package/file and by function. */
export function summarizeAllocations(head: AllocationNode, requests: number, top: number, what = 'allocated'): string {
  const byBucket = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  const walk = (n: AllocationNode) => {
    if (n.selfSize) {
      total += n.selfSize;
      add(byBucket, bucket(n.callFrame), n.selfSize);
      add(byFn, fnKey(n.callFrame), n.selfSize);
    }
    for (const c of n.children) walk(c);
  };
  walk(head);
  const kb = (b: number) => `${(b / 1024 / requests).toFixed(2).padStart(7)} KB`;
  const table = (title: string, m: Map<string, number>) => topTable(title, m, top, kb);
  return [
    `${what} per request: ${kb(total).trim()}`,
    table(`${what} per request by package / file`, byBucket),
    table(`${what} per request by function`, byFn),
  ].join('\n');
}

async function main() {
  const dir = resolve('.data/prof');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const group = new ProcessGroup();
  try {
    const backends = await group.startBackends('profile');
    const inspectPort = await freePort();
    const { process: broker, url } = await group.startBroker(backends, API_KEY, {
      flags: [...BROKER_NODE_FLAGS, ...(ALLOC ? [`--inspect=127.0.0.1:${inspectPort}`] : ['--cpu-prof', `--cpu-prof-dir=${dir}`])],
    });
    const load = {
      url: `${url}/v1/chat/completions`,
      body: STREAMING ? benchBodies.stream : benchBodies.chat,
      headers: { authorization: `Bearer ${API_KEY}` },
      connections: CONNECTIONS,
    };
    await runLoad({ ...load, connections: 16, durationSeconds: 2 }); // JIT, pools
    if (ALLOC) {
      const inspector = await Inspector.connect(inspectPort);
      // Every sample, also of objects already collected: what the request path allocates, not what
      // stays. Survivors: samples a scavenge collected are dropped, so what remains outlived one.
      await inspector.call('HeapProfiler.startSampling', {
        samplingInterval: 8192,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !SURVIVORS,
      });
      const r = await runLoad({ ...load, durationSeconds: DURATION });
      const { profile } = await inspector.call<{ profile: { head: AllocationNode } }>('HeapProfiler.stopSampling');
      inspector.close();
      console.log(`${Math.round(r.rps)} req/s, ${r.requests} requests`);
      const file = join(dir, 'allocations.heapprofile');
      writeFileSync(file, JSON.stringify(profile));
      console.log(summarizeAllocations(profile.head, served(r), TOP, SURVIVORS ? 'outlived a scavenge' : 'allocated'));
      console.log(`\nprofile: ${file}`);
      return;
    }
    const r = await runLoad({ ...load, durationSeconds: DURATION, ...(RATE ? { rate: RATE, openAllConnections: true } : {}) });
    console.log(`${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (profiling slows it down)`);
    broker.kill('SIGTERM');
    await once(broker, 'exit');
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no profile written');
    console.log(summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, TOP));
    console.log(`\nprofile: ${join(dir, file)}`);
  } finally {
    await group.stopAll();
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
