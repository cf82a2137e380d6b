// What every benchmark does with its child processes: start services, read their RSS and CPU time
// from /proc, and kill them all at the end.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { installGoPeer } from './peers/gateway.ts';
import { startNatsServer, type NatsServer } from '../test/harness/nats-server.ts';
import { createDatabase, startPostgres } from '../test/harness/postgres.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';
import { nodeFlagsOf } from '../test/harness/npm-scripts.ts';

/**
 * The V8 flags `npm start` runs the broker with (read from package.json's start script), so a benchmark
 * measures the heap settings that ship; BENCH_NODE_FLAGS in the scripts that take it overrides them.
 */
export const BROKER_NODE_FLAGS: string[] = nodeFlagsOf('start');
/** The flags of `npm run start:lean` (the soft heap limit; docs/benchmarks.md, "grow50semi8"). */
export const LEAN_NODE_FLAGS: string[] = nodeFlagsOf('start:lean');

export interface Backends {
  nats: NatsServer;
  databaseUrl: string;
  /** Root of the mock upstream (OpenAI family under /v1). */
  mockUrl: string;
  mockPid: number;
  /** The Postgres postmaster (its backends are its children). */
  postgresPid: () => number | undefined;
}

/** `services/<name>/main.ts` -> its compiled copy, built first when stale; the mock and checkouts without a build run as they are. */
function shipped(script: string, cwd: string | undefined, source: boolean): string {
  const service = /^services\/(?!mock-providers\/)(.+)\.ts$/.exec(script);
  const dir = cwd ?? process.cwd();
  if (!service || source || !existsSync(join(dir, 'scripts/build.mjs'))) return script;
  const built = spawnSync(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: dir, stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`scripts/build.mjs failed in ${dir}`);
  return `dist/services/${service[1]}.js`;
}

/** The Node binary a script runs on: BENCH_SERVICE_NODE for our services (the Node-version lever), this one for the mock and the rest. */
export function nodeFor(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return /^services\/(?!mock-providers\/)/.test(script) ? (env.BENCH_SERVICE_NODE ?? process.execPath) : process.execPath;
}

const GO_UPSTREAM_BIN = resolve('.data/bin/upstream-go');

export class ProcessGroup {
  readonly children: ChildProcess[] = [];
  readonly cleanups: Array<() => Promise<void> | void> = [];

  /**
   * Runs a service entry point on this Node; stderr is passed through so failures show. `cwd`: another
   * checkout (bench/levers.ts BENCH_BASELINE_DIR); `stdout`: a file descriptor to keep what it prints.
   * A service runs as `npm start` ships it, compiled to dist/ (scripts/build.mjs), unless `source`
   * (or BENCH_SOURCE=1) asks for its .ts through Node's type stripping.
   */
  run(
    script: string,
    env: Record<string, string>,
    nodeArgs: string[] = [],
    opts: { cwd?: string; stdout?: number; source?: boolean } = {},
  ): ChildProcess {
    const childEnv = { ...process.env, ...env };
    // A variant's own BENCH_SERVICE_NODE (bench/levers.ts "node24") wins over the harness's.
    const p = spawn(nodeFor(script, childEnv), [...nodeArgs, shipped(script, opts.cwd, opts.source ?? process.env.BENCH_SOURCE === '1')], {
      cwd: opts.cwd,
      env: childEnv,
      stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit'],
    });
    this.children.push(p);
    return p;
  }

  /** Throwaway nats-server and Postgres database, and the mock upstream in its own process. */
  async startBackends(dbName: string, natsOpts: Parameters<typeof startNatsServer>[0] = {}): Promise<Backends> {
    const nats = await startNatsServer(natsOpts);
    this.cleanups.push(() => nats.stop());
    const pgc = await startPostgres();
    this.cleanups.push(() => pgc.destroy());
    const databaseUrl = await createDatabase(pgc.url, dbName);
    const mock = await this.startMock();
    return { nats, databaseUrl, mockUrl: mock.url, mockPid: mock.pid, postgresPid: () => pgc.pid() };
  }

  /**
   * The mock upstream in its own process on a free port (`env` adds to its settings); resolves once it
   * answers. BENCH_UPSTREAM=go runs bench/upstream-go instead: OpenAI chat only, a fraction of the
   * Node mock's CPU per paced token, so many paced streams load the gateways, not the upstream.
   */
  async startMock(env: Record<string, string> = {}): Promise<{ url: string; pid: number }> {
    const go = process.env.BENCH_UPSTREAM === 'go';
    // The Go upstream has no settings: a caller that needs the mock's (MOCK_TOKENS, ...) must not get other answers silently.
    if (go && Object.keys(env).length) throw new Error(`BENCH_UPSTREAM=go serves the defaults only, not ${Object.keys(env).join(', ')}`);
    const port = await freePort();
    const mock = go
      ? this.runGoUpstream(port)
      : this.run('services/mock-providers/main.ts', { MOCK_PORT: String(port), LOG_LEVEL: 'warn', ...env });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/_mock/stats`)).ok, { what: 'mock ready' });
    return { url, pid: mock.pid! };
  }

  /** bench/upstream-go, built with the machine's Go into .data/bin when its source is newer. */
  private runGoUpstream(port: number): ChildProcess {
    const built = installGoPeer(resolve('bench/upstream-go'), GO_UPSTREAM_BIN);
    if (!built.ok) throw new Error(`BENCH_UPSTREAM=go: ${built.why}`);
    const p = spawn(GO_UPSTREAM_BIN, ['-addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.children.push(p);
    return p;
  }

  /**
   * The one-process broker (services/all) on these backends with `apiKey` as its bootstrap key, on a
   * free port; `flags` default to npm start's, `env` adds to brokerEnv, `cwd` runs another checkout's
   * build, `stdout` keeps what it prints. Resolves once /readyz answers.
   */
  async startBroker(
    backends: Parameters<typeof brokerEnv>[0],
    apiKey: string,
    opts: { flags?: string[]; env?: Record<string, string>; stdout?: number; cwd?: string } = {},
  ): Promise<{ process: ChildProcess; url: string }> {
    const port = await freePort();
    const process = this.run(
      'services/all/main.ts',
      { ...brokerEnv(backends, port, apiKey), ...opts.env },
      opts.flags ?? BROKER_NODE_FLAGS,
      {
        ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
        ...(opts.stdout === undefined ? {} : { stdout: opts.stdout }),
      },
    );
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 30_000, what: 'switchyard ready' });
    return { process, url };
  }

  async stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const c of this.children) c.kill(signal);
    for (const c of this.cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  }
}

/** What the benchmarks give a Switchyard broker: these backends, the mock as OpenAI, a bootstrap key, warn logs. */
export function brokerEnv(
  b: { nats: { url: string }; databaseUrl: string; mockUrl: string },
  port: number,
  apiKey: string,
): Record<string, string> {
  return {
    NATS_URL: b.nats.url,
    DATABASE_URL: b.databaseUrl,
    OPENAI_BASE_URL: `${b.mockUrl}/v1`,
    OPENAI_API_KEY: 'sk-upstream',
    BOOTSTRAP_API_KEY: apiKey,
    LOG_LEVEL: 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
  };
}

/**
 * The mock's script for the benchmark stream: BENCH_STREAM_TOKENS tokens (20), BENCH_STREAM_ITL_MS
 * apart (0: written back to back, so a stream arrives in one or two reads). With a gap every token
 * arrives in a read of its own, as from a real model, and the per-token cost is what is measured.
 */
export function benchStreamScript(env: NodeJS.ProcessEnv = process.env): { tokens: number; itl_ms?: number } {
  const tokens = Number(env.BENCH_STREAM_TOKENS ?? 20);
  const itl = Number(env.BENCH_STREAM_ITL_MS ?? 0);
  if (!Number.isInteger(tokens) || tokens < 1)
    throw new Error(`BENCH_STREAM_TOKENS must be a positive integer, not ${env.BENCH_STREAM_TOKENS}`);
  if (!(itl >= 0)) throw new Error(`BENCH_STREAM_ITL_MS must be a number >= 0, not ${env.BENCH_STREAM_ITL_MS}`);
  return itl > 0 ? { tokens, itl_ms: itl } : { tokens };
}

/**
 * Earlier turns of a conversation, sent before the question when BENCH_CHAT_TURNS is set: 0 (the
 * default) keeps the bodies tiny (~90 B); 12 makes them ~3.4 KB, where parsing, validation and the
 * stored copy start to count (docs/benchmarks.md, "A body of real size").
 */
export function benchHistory(env: NodeJS.ProcessEnv = process.env): Array<{ role: string; content: string }> {
  const turns = Number(env.BENCH_CHAT_TURNS ?? 0);
  if (!Number.isInteger(turns) || turns < 0) throw new Error(`BENCH_CHAT_TURNS must be an integer >= 0, not ${env.BENCH_CHAT_TURNS}`);
  const filler =
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ';
  return Array.from({ length: turns }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `Turn ${i}: ${filler.repeat(2)}` }));
}

/** The short chat and the stream (20 tokens unless benchStreamScript says otherwise) that bench/levers.ts, profile.ts and tail.ts send. */
export const benchBodies = {
  chat: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [...benchHistory(), { role: 'user', content: 'Say hello.' }] }),
  stream: JSON.stringify({
    model: 'openai/gpt-4o-mini',
    stream: true,
    stream_options: { include_usage: true },
    messages: [...benchHistory(), { role: 'user', content: `Say hello.\nmock:${JSON.stringify(benchStreamScript())}` }],
  }),
};

export function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/**
 * A /proc stat file (`/proc/<pid>/stat`, `/proc/<pid>/task/<tid>/stat`): the command name, and the
 * fields after it (the name may hold spaces and parentheses, so they start after the last ") "):
 * [1] the parent pid, [11] / [12] user / system ticks, [13] / [14] those of the children it reaped.
 * Null when the process or thread has gone.
 */
function readStat(path: string): { name: string; fields: string[] } | null {
  try {
    const stat = readFileSync(path, 'utf8');
    const end = stat.lastIndexOf(') ');
    return { name: stat.slice(stat.indexOf('(') + 1, end), fields: stat.slice(end + 2).split(' ') };
  } catch {
    return null;
  }
}

/** Clock ticks (of 1/100 s) as seconds: fields `from` to `to` of a stat file, summed. */
function ticksToSeconds(fields: string[], from: number, to: number): number {
  let ticks = 0;
  for (let i = from; i <= to; i++) ticks += Number(fields[i]);
  return ticks / 100;
}

/** user+system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number | undefined): number {
  const stat = pid ? readStat(`/proc/${pid}/stat`) : null;
  return stat ? ticksToSeconds(stat.fields, 11, 12) : 0;
}

/**
 * user+system CPU seconds of a process's threads so far, summed by thread name (`comm`): Node names
 * its main thread `MainThread` and a worker_threads thread `WorkerThread` (the embedded PGlite's, in
 * the all-in-one broker); V8's helpers are `V8Worker`, libuv's pool `libuv-worker`.
 */
export function threadCpuSeconds(pid: number | undefined): Record<string, number> {
  const byName: Record<string, number> = {};
  if (!pid) return byName;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    const stat = readStat(`/proc/${pid}/task/${tid}/stat`); // null: the thread ended since readdir
    if (stat) byName[stat.name] = (byName[stat.name] ?? 0) + ticksToSeconds(stat.fields, 11, 12);
  }
  return byName;
}

/** `root` and all its descendants, found by scanning the parent pid of every process in /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(`/proc/${entry}/stat`); // null: exited between readdir and read
    if (!stat) continue;
    const ppid = Number(stat.fields[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const pending = [root];
  while (pending.length) {
    const pid = pending.pop()!;
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * user+system CPU seconds used so far by the process trees under `roots`, each process counted once,
 * including children that have exited: a process's own time plus that of the children it has reaped
 * (cutime, cstime). Postgres forks a backend per connection, and a pool that closes idle connections
 * takes their CPU with them from any sum over the processes alive now.
 */
export function treeCpuSeconds(roots: Array<number | undefined>): number {
  const pids = new Set(roots.flatMap((root) => (root ? processTree(root) : [])));
  let sum = 0;
  for (const pid of pids) {
    const stat = readStat(`/proc/${pid}/stat`);
    if (stat) sum += ticksToSeconds(stat.fields, 11, 14);
  }
  return sum;
}

/** Proportional set size: shared pages divided among the processes that map them. */
export function pssMb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

export interface TreeMemory {
  /** Sum of VmRSS over every process in the trees (shared pages counted once per process). */
  rssMb: number;
  /** Sum of Pss over the same processes (shared pages split; never more than rssMb). */
  pssMb: number;
  processes: number;
}

/** Memory of the process trees under `roots`, each process counted once. */
export function treeMemory(roots: Array<number | undefined>): TreeMemory {
  const pids = new Set<number>();
  for (const root of roots) if (root) for (const pid of processTree(root)) pids.add(pid);
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    rss += rssMb(pid);
    pss += pssMb(pid);
  }
  return { rssMb: rss, pssMb: pss, processes: pids.size };
}

/**
 * Samples the trees under `roots` until stopped and keeps the peak. A gateway that forks workers on
 * demand is covered because the tree is re-read at every sample.
 */
export class PeakMemory {
  private peak: TreeMemory = { rssMb: 0, pssMb: 0, processes: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly roots: () => Array<number | undefined>;

  constructor(roots: () => Array<number | undefined>, intervalMs = 250) {
    this.roots = roots;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const now = treeMemory(this.roots());
    if (now.rssMb > this.peak.rssMb) this.peak = { ...now, pssMb: Math.max(now.pssMb, this.peak.pssMb) };
    else if (now.pssMb > this.peak.pssMb) this.peak = { ...this.peak, pssMb: now.pssMb };
  }

  stop(): TreeMemory {
    clearInterval(this.timer);
    this.sample();
    return { rssMb: Math.round(this.peak.rssMb), pssMb: Math.round(this.peak.pssMb), processes: this.peak.processes };
  }
}
