// Reproducible load benchmark: the same requests sent straight to the mock upstream and through
// Switchyard (ingress -> JetStream -> worker -> upstream, with auth, validation and the usage ledger
// on Postgres), non-streaming and streaming, at a fixed rate and at fixed concurrency.
//
//   npm run bench                      # full run (~2 min)
//   BENCH_DURATION=5 npm run bench     # shorter
//   BENCH_WORKERS=2 npm run bench      # split topology: 1 ingress + ledger process, N worker processes
//
// Every process runs on this machine, so load generator, broker, NATS, Postgres and the mock share
// the cores: numbers are comparable within one run, not across machines.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { runLoad } from './load.ts';
import { cpuSeconds, ProcessGroup, rssMb as rss } from './processes.ts';
import { request } from 'undici';
import pg from 'pg';
import { freePort, waitFor } from '../test/harness/ports.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 0); // 0 = everything in one process (npm start)
const API_KEY = 'sk-bench';
// Peer gateways measured in the same run, on the same mock, with the same load generator.
const PEERS = (process.env.BENCH_PEERS ?? 'portkey').split(',').filter(Boolean);
const PORTKEY_VERSION = '1.15.2';

const group = new ProcessGroup();
// V8 flags for the broker processes (heap sizing is part of what is measured).
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=16').split(' ').filter(Boolean);
const PROFILE = process.env.BENCH_PROFILE === '1'; // CPU profiles of the broker into bench/profiles/
/** A broker process, with the benchmark's V8 flags (and a CPU profile when asked). */
function run(script: string, env: Record<string, string>): ChildProcess {
  return group.run(script, env, [...NODE_FLAGS, ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir=bench/profiles'] : [])]);
}

interface Result {
  name: string;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

let syRequests = 0;

async function load(
  name: string,
  url: string,
  body: string,
  opts: { rate?: number; connections: number; headers?: Record<string, string>; peer?: boolean },
): Promise<Result> {
  const res = await runLoad({
    url,
    body,
    connections: opts.connections,
    durationSeconds: DURATION,
    ...(opts.rate ? { rate: opts.rate } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
  if (opts.headers && !opts.peer) syRequests += res.ok;
  const r: Result = {
    name,
    rps: res.rps,
    p50: res.p50,
    p90: res.p90,
    p99: res.p99,
    errors: res.errors,
    non2xx: res.non2xx,
    requests: res.requests,
  };
  console.log(
    `${name.padEnd(44)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  non-2xx ${r.non2xx}`,
  );
  return r;
}

/** Installs the peer gateway outside the project's dependencies (.data/peers) on first use. */
function ensurePortkey(): string | null {
  const entry = 'node_modules/@portkey-ai/gateway/build/start-server.js';
  const dir = '.data/peers';
  try {
    readFileSync(`${dir}/${entry}`);
  } catch {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync(
      'npm',
      ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', `@portkey-ai/gateway@${PORTKEY_VERSION}`],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) return null;
  }
  return `${dir}/${entry}`;
}

/** Time to first content token, sequential requests (no queueing): direct vs through Switchyard. */
async function ttft(url: string, body: string, headers: Record<string, string>, n: number): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    let first = 0;
    for await (const chunk of res.body) {
      if (!first && chunk.toString().includes('"content":"tok')) first = performance.now() - t0;
    }
    samples.push(first);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(n * 0.5)]!, p99: samples[Math.floor(n * 0.99)]! };
}

async function main() {
  const { nats, databaseUrl, mockUrl } = await group.startBackends('bench');
  const port = await freePort();
  const env = {
    NATS_URL: nats.url,
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: `${mockUrl}/v1`,
    OPENAI_API_KEY: 'sk-upstream',
    BOOTSTRAP_API_KEY: API_KEY,
    LOG_LEVEL: 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
  };
  const brokerPids: Array<number | undefined> = [];
  if (WORKERS === 0) {
    brokerPids.push(run('services/all/main.ts', env).pid);
  } else {
    brokerPids.push(run('services/ingress/main.ts', env).pid);
    brokerPids.push(run('services/ledger/main.ts', env).pid);
    for (let i = 0; i < WORKERS; i++) brokerPids.push(run('services/worker/main.ts', env).pid);
  }
  const sy = `http://127.0.0.1:${port}`;
  const direct = `${mockUrl}`;
  await waitFor(async () => (await fetch(`${sy}/readyz`)).ok, { timeoutMs: 30_000, what: 'switchyard ready' });
  await waitFor(async () => (await fetch(`${direct}/_mock/stats`)).ok, { what: 'mock ready' });

  const auth = { authorization: `Bearer ${API_KEY}` };
  const chat = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] });
  const stream = JSON.stringify({
    model: 'openai/gpt-4o-mini',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Say hello.\nmock:{"tokens":20}' }],
  });

  console.log(
    `\nSwitchyard benchmark: ${DURATION}s per run, ${WORKERS === 0 ? 'all services in one process' : `1 ingress + 1 ledger + ${WORKERS} worker processes`}, node ${process.version}\n`,
  );
  // Warm up JITs, pools and keep-alive connections on both paths.
  await load('warmup direct', `${direct}/v1/chat/completions`, chat, { connections: 16 });
  await load('warmup switchyard', `${sy}/v1/chat/completions`, chat, { connections: 16, headers: auth });

  const results: Record<string, Result> = {};
  results.directRate = await load(`direct, ${RATE} req/s, non-streaming`, `${direct}/v1/chat/completions`, chat, {
    rate: RATE,
    connections: 32,
  });
  results.syRate = await load(`switchyard, ${RATE} req/s, non-streaming`, `${sy}/v1/chat/completions`, chat, {
    rate: RATE,
    connections: 32,
    headers: auth,
  });
  if (PEERS.includes('portkey')) {
    const entry = ensurePortkey();
    if (entry) {
      const pkPort = await freePort();
      const pk = spawn(process.execPath, [entry, `--port=${pkPort}`, '--headless'], { stdio: 'ignore' });
      group.children.push(pk);
      const pkUrl = `http://127.0.0.1:${pkPort}/v1/chat/completions`;
      const pkHeaders = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${direct}/v1`, authorization: 'Bearer sk-upstream' };
      const pkBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] });
      await waitFor(
        async () =>
          (await fetch(pkUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...pkHeaders }, body: pkBody })).ok,
        { timeoutMs: 30_000, what: 'portkey' },
      );
      await runLoad({ url: pkUrl, body: pkBody, headers: pkHeaders, connections: 16, durationSeconds: 2 });
      results.portkeyRate = await load(`portkey ${PORTKEY_VERSION}, ${RATE} req/s, non-streaming`, pkUrl, pkBody, {
        rate: RATE,
        connections: 32,
        headers: pkHeaders,
        peer: true,
      });
      results.portkeyMax = await load(`portkey ${PORTKEY_VERSION}, ${CONNECTIONS} connections, non-streaming`, pkUrl, pkBody, {
        connections: CONNECTIONS,
        headers: pkHeaders,
        peer: true,
      });
      pk.kill('SIGKILL');
    }
  }
  results.directMax = await load(`direct, ${CONNECTIONS} connections, non-streaming`, `${direct}/v1/chat/completions`, chat, {
    connections: CONNECTIONS,
  });
  const cpuBefore = brokerPids.reduce<number>((sum, pid) => sum + cpuSeconds(pid), 0);
  const natsCpuBefore = cpuSeconds(nats.pid());
  results.syMax = await load(`switchyard, ${CONNECTIONS} connections, non-streaming`, `${sy}/v1/chat/completions`, chat, {
    connections: CONNECTIONS,
    headers: auth,
  });
  const cpuAfter = brokerPids.reduce<number>((sum, pid) => sum + cpuSeconds(pid), 0);
  const cpuUsPerRequest = Math.round(((cpuAfter - cpuBefore) * 1e6) / results.syMax.requests);
  // nats-server's share: JetStream store of the request, the events stream, usage, acks.
  const natsCpuUsPerRequest = Math.round(((cpuSeconds(nats.pid()) - natsCpuBefore) * 1e6) / results.syMax.requests);
  let rssAtMax = 0;
  for (const pid of brokerPids) rssAtMax += rss(pid);
  results.directStream = await load(`direct, ${CONNECTIONS} connections, streaming 20 tok`, `${direct}/v1/chat/completions`, stream, {
    connections: CONNECTIONS,
  });
  results.syStream = await load(`switchyard, ${CONNECTIONS} connections, streaming 20 tok`, `${sy}/v1/chat/completions`, stream, {
    connections: CONNECTIONS,
    headers: auth,
  });
  const ttftDirect = await ttft(`${direct}/v1/chat/completions`, stream, {}, 300);
  const ttftSy = await ttft(`${sy}/v1/chat/completions`, stream, auth, 300);

  // Exactly-once check: every request Switchyard answered has one usage row, no more.
  const answered = syRequests + 300; // + the sequential TTFT streams
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const countRows = async () => Number((await db.query('select count(*) from usage')).rows[0].count);
  let rows = 0;
  for (let i = 0; i < 100; i++) {
    rows = await countRows();
    if (rows >= answered + 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await db.end();

  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    durationSeconds: DURATION,
    topology: WORKERS === 0 ? 'single process' : `ingress + ledger + ${WORKERS} workers`,
    added: {
      p50AtRate: +(results.syRate!.p50 - results.directRate!.p50).toFixed(2),
      p99AtRate: +(results.syRate!.p99 - results.directRate!.p99).toFixed(2),
      ttftP50: +(ttftSy.p50 - ttftDirect.p50).toFixed(2),
      ttftP99: +(ttftSy.p99 - ttftDirect.p99).toFixed(2),
    },
    peers: results.portkeyMax
      ? {
          portkey: {
            version: PORTKEY_VERSION,
            maxRps: results.portkeyMax.rps,
            addedP50AtRate: +(results.portkeyRate!.p50 - results.directRate!.p50).toFixed(2),
          },
        }
      : undefined,
    throughput: {
      direct: results.directMax!.rps,
      switchyard: results.syMax!.rps,
      streamingDirect: results.directStream!.rps,
      streamingSwitchyard: results.syStream!.rps,
    },
    brokerRssMbAtMaxLoad: Math.round(rssAtMax),
    brokerCpuMicrosecondsPerRequest: cpuUsPerRequest,
    natsServerCpuMicrosecondsPerRequest: natsCpuUsPerRequest,
    ttft: { direct: ttftDirect, switchyard: ttftSy },
    usageRows: { answeredBySwitchyard: answered, rowsInLedger: rows },
    results,
  };
  console.log(`
added latency at ${RATE} req/s:  p50 +${summary.added.p50AtRate} ms   p99 +${summary.added.p99AtRate} ms
added time to first token:  p50 +${summary.added.ttftP50.toFixed(2)} ms   p99 +${summary.added.ttftP99.toFixed(2)} ms (sequential, ${300} streams)
max throughput (${CONNECTIONS} conns):  direct ${summary.throughput.direct} req/s, switchyard ${summary.throughput.switchyard} req/s${results.portkeyMax ? `, portkey ${results.portkeyMax.rps} req/s (added p50 at ${RATE} req/s: +${summary.peers!.portkey.addedP50AtRate} ms)` : ''}
streaming throughput:       direct ${summary.throughput.streamingDirect} req/s, switchyard ${summary.throughput.streamingSwitchyard} req/s
broker CPU per request:     ${cpuUsPerRequest} µs (all broker processes, non-streaming at max load); nats-server ${natsCpuUsPerRequest} µs
broker RSS at max load:     ${summary.brokerRssMbAtMaxLoad} MB
usage ledger:               ${rows} rows for ${answered} answered requests${rows === answered ? ' (exactly once)' : ' (MISMATCH)'}`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/${summary.date.replace(/[:.]/g, '-')}.json`, JSON.stringify(summary, null, 2));
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  console.error('benchmark failed:', err);
  exitCode = 1;
} finally {
  if (PROFILE) {
    for (const c of group.children) c.kill('SIGTERM'); // a clean exit writes the profile
    await new Promise((r) => setTimeout(r, 3_000));
  }
  await group.stopAll('SIGKILL');
  process.exit(exitCode);
}
