// Reproducible load benchmark: the same requests sent straight to the mock upstream, through
// Switchyard (ingress -> JetStream -> worker -> upstream, with auth, validation and the usage ledger
// on Postgres) and through peer gateways (go-proxy, a bare Go reverse proxy; gomodel-like, GoModel's
// request path in Go; node-proxy, go-proxy's Node twin; Portkey; LiteLLM), non-streaming and
// streaming, at a fixed rate and at fixed concurrency, with the peak memory of each gateway's process tree.
//
//   npm run bench                          # full run (~4 min, plus peer installs on first use)
//   BENCH_DURATION=5 npm run bench         # shorter
//   BENCH_PEERS=litellm npm run bench      # peers to compare (default go-proxy,gomodel-like,node-proxy,portkey,litellm; '' for none)
//   BENCH_WORKERS=2 npm run bench          # split topology: 1 ingress + ledger process, N worker processes
//   BENCH_STREAM_TOKENS=300 npm run bench  # longer streams (content tokens per stream; default 20)
//   BENCH_STREAM_TOKENS=300 BENCH_STREAM_ITL_MS=2 npm run bench  # tokens 2 ms apart: a read each, as from a model
//   BENCH_ROUNDS=3 npm run bench           # every gateway measured 3 times, interleaved; medians reported
//   BENCH_UPSTREAM=go npm run bench        # bench/upstream-go instead of the Node mock (lighter: many paced streams load the gateways)
//   BENCH_CHAT_TURNS=12 npm run bench      # every request carries 12 earlier turns (~270 B each): a body of real size
//
// Every process runs on this machine, so load generator, broker, NATS, Postgres and the mock share
// the cores: numbers are comparable within one run, not across machines.
import { type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { median, runLoad, served } from './load.ts';
import {
  benchHistory,
  benchStreamScript,
  BROKER_NODE_FLAGS,
  brokerEnv,
  cpuSeconds,
  PeakMemory,
  ProcessGroup,
  treeCpuSeconds,
  type TreeMemory,
} from './processes.ts';
import { peerTable, ratios, type GatewayRow, type LoadFigures, type MeasuredGateway } from './peer-table.ts';
import { pauseGroup, type PeerGateway, type RunningPeer } from './peers/gateway.ts';
import { portkey } from './peers/portkey.ts';
import { litellm } from './peers/litellm.ts';
import { goProxy } from './peers/go-proxy.ts';
import { gomodelLike } from './peers/gomodel-like.ts';
import { nodeProxy } from './peers/node-proxy.ts';
import { request } from 'undici';
import pg from 'pg';
import { freePort, waitFor } from '../test/harness/ports.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
// The mock's stream: content tokens per stream and the gap between them (bench/processes.ts); issue
// 10's table streamed a 302-event recorded answer with its timing (BENCH_STREAM_TOKENS=300, a gap).
const STREAM = benchStreamScript();
const HISTORY = benchHistory();
const STREAM_TOKENS = STREAM.tokens;
const STREAM_LABEL = `streaming ${STREAM_TOKENS} tok${STREAM.itl_ms ? ` ${STREAM.itl_ms} ms apart` : ''}`;
const WORKERS = Number(process.env.BENCH_WORKERS ?? 0); // 0 = everything in one process (npm start)
// Interleaved rounds per gateway; every figure in the table is the median over them.
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
const API_KEY = 'sk-bench';
// Peer gateways measured in the same run, on the same mock, with the same load generator.
const PEERS = (process.env.BENCH_PEERS ?? 'go-proxy,gomodel-like,node-proxy,portkey,litellm')
  .split(',')
  .map((p) => p.trim())
  .filter(Boolean);
const KNOWN_PEERS: Record<string, PeerGateway> = {
  'go-proxy': goProxy,
  'gomodel-like': gomodelLike,
  'node-proxy': nodeProxy,
  portkey,
  litellm,
};

const group = new ProcessGroup();
// V8 flags for the broker processes (heap sizing is part of what is measured).
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? BROKER_NODE_FLAGS;
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
  /** `requests` plus the warm-up's: what CPU measured around the load is divided by (load.ts served()). */
  served: number;
}

let syRequests = 0;

async function load(
  name: string,
  url: string,
  body: string,
  opts: { rate?: number; connections: number; headers?: Record<string, string>; ledger?: boolean },
): Promise<Result> {
  const res = await runLoad({
    url,
    body,
    connections: opts.connections,
    durationSeconds: DURATION,
    ...(opts.rate ? { rate: opts.rate } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
  if (opts.ledger) syRequests += res.ok + res.warmupOk; // answered by Switchyard: one usage row each
  const r: Result = {
    name,
    rps: res.rps,
    p50: res.p50,
    p90: res.p90,
    p99: res.p99,
    errors: res.errors,
    non2xx: res.non2xx,
    requests: res.requests,
    served: served(res),
  };
  console.log(
    `${name.padEnd(44)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  non-2xx ${r.non2xx}`,
  );
  return r;
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

/** Successful responses per second and latency, as the peer table shows them. */
function figures(r: Result): LoadFigures {
  const ok = r.requests - r.errors - r.non2xx;
  return {
    rps: r.requests ? Math.round((r.rps * ok) / r.requests) : 0,
    p50: r.p50,
    p99: r.p99,
    requests: r.requests,
    failed: r.requests - ok,
  };
}

function chatBodies(model: string, script: { tokens: number; itl_ms?: number } = STREAM): { chat: string; stream: string } {
  return {
    chat: JSON.stringify({ model, messages: [...HISTORY, { role: 'user', content: 'Say hello in one short sentence.' }] }),
    // The mock reads the `mock:` line: STREAM_TOKENS content tokens per stream, STREAM.itl_ms apart.
    stream: JSON.stringify({
      model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [...HISTORY, { role: 'user', content: `Say hello.\nmock:${JSON.stringify(script)}` }],
    }),
  };
}

/** One request of each kind before measuring: a gateway that answers 200 with the wrong body is not measured. */
async function checkChat(name: string, url: string, headers: Record<string, string>, body: string): Promise<void> {
  const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.body.text();
  const content =
    res.statusCode === 200
      ? (JSON.parse(text) as { choices?: Array<{ message?: { content?: string } }> }).choices?.[0]?.message?.content
      : undefined;
  if (!content) throw new Error(`${name}: non-streaming answer ${res.statusCode} without content: ${text.slice(0, 200)}`);
}

/** The streamed text must arrive whole, then [DONE]; returns why not, or undefined when it does. */
async function checkStream(url: string, headers: Record<string, string>, body: string): Promise<string | undefined> {
  const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const raw = await res.body.text();
  if (res.statusCode !== 200) return `stream answered ${res.statusCode}: ${raw.slice(0, 120)}`;
  // Gateways may merge or split chunks: compare the concatenated text, not the chunk count.
  let text = '';
  for (const line of raw.split('\n')) {
    const data = /^data: ?(\{.*)$/.exec(line.trim())?.[1];
    if (!data) continue;
    const chunk = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string | null } }> };
    text += chunk.choices?.[0]?.delta?.content ?? '';
  }
  const expected = Array.from({ length: STREAM_TOKENS }, (_, i) => `tok${i}`).join(' ');
  if (text !== expected) return `stream text ${JSON.stringify(text.slice(0, 60))} instead of the ${STREAM_TOKENS} tokens`;
  if (!/^data: ?\[DONE\]/m.test(raw)) return 'stream without data: [DONE]';
  return undefined;
}

interface GatewayMeasurement {
  rate: Result;
  max: Result;
  stream?: Result;
  streamWhy?: string;
  /** CPU µs per stream of the gateway's process trees during the streaming load (Switchyard: with nats-server). */
  streamCpuUs?: number;
  memory: TreeMemory;
}

/** The three loads every gateway gets, with its process trees sampled for peak memory throughout. */
async function measureGateway(
  label: string,
  url: string,
  bodies: { chat: string; stream: string },
  headers: Record<string, string>,
  roots: Array<number | undefined>,
  ledger: boolean,
  between?: { beforeMax?: () => void; afterMax?: () => void },
  cpuRoots: Array<number | undefined> = roots,
): Promise<GatewayMeasurement> {
  const memory = new PeakMemory(() => roots);
  const common = { headers, ledger };
  const rate = await load(`${label}, ${RATE} req/s, non-streaming`, url, bodies.chat, { ...common, rate: RATE, connections: 32 });
  between?.beforeMax?.();
  const max = await load(`${label}, ${CONNECTIONS} connections, non-streaming`, url, bodies.chat, { ...common, connections: CONNECTIONS });
  between?.afterMax?.();
  // A gateway that fails the streaming check keeps its non-streaming figures; the table says why.
  const streamWhy = await checkStream(url, headers, bodies.stream);
  if (streamWhy) {
    console.log(`${label}: streaming not measured: ${streamWhy}`);
    return { rate, max, streamWhy, memory: memory.stop() };
  }
  if (ledger) syRequests += 1;
  const cpu0 = treeCpuSeconds(cpuRoots);
  const stream = await load(`${label}, ${CONNECTIONS} connections, ${STREAM_LABEL}`, url, bodies.stream, {
    ...common,
    connections: CONNECTIONS,
  });
  const cpu = treeCpuSeconds(cpuRoots) - cpu0;
  const streamCpuUs = cpuRoots.length && stream.served ? Math.round((cpu * 1e6) / stream.served) : undefined;
  return { rate, max, stream, ...(streamCpuUs !== undefined ? { streamCpuUs } : {}), memory: memory.stop() };
}

/** Each load's figures as the median over the rounds (failures summed); memory is the peak of all rounds. */
function medianResult(rs: Result[]): Result {
  const of = (k: 'rps' | 'p50' | 'p90' | 'p99') => +median(rs.map((r) => r[k])).toFixed(3);
  const sum = (k: 'errors' | 'non2xx' | 'requests' | 'served') => rs.reduce((a, r) => a + r[k], 0);
  return {
    name: rs[0]!.name,
    rps: Math.round(of('rps')),
    p50: of('p50'),
    p90: of('p90'),
    p99: of('p99'),
    errors: sum('errors'),
    non2xx: sum('non2xx'),
    requests: sum('requests'),
    served: sum('served'),
  };
}

function medianMeasurement(ms: GatewayMeasurement[]): GatewayMeasurement {
  const streams = ms.flatMap((m) => (m.stream ? [m.stream] : []));
  const cpus = ms.flatMap((m) => (m.streamCpuUs !== undefined ? [m.streamCpuUs] : []));
  const peak = (k: 'rssMb' | 'pssMb' | 'processes') => Math.max(...ms.map((m) => m.memory[k]));
  return {
    rate: medianResult(ms.map((m) => m.rate)),
    max: medianResult(ms.map((m) => m.max)),
    // A gateway whose stream failed its check in any round is reported as failing it.
    ...(streams.length === ms.length ? { stream: medianResult(streams) } : { streamWhy: ms.find((m) => m.streamWhy)?.streamWhy }),
    ...(cpus.length === ms.length ? { streamCpuUs: Math.round(median(cpus)) } : {}),
    memory: { rssMb: peak('rssMb'), pssMb: peak('pssMb'), processes: peak('processes') },
  };
}

function measuredRow(
  gateway: string,
  version: string | undefined,
  m: GatewayMeasurement,
  direct: GatewayMeasurement | null,
): MeasuredGateway {
  return {
    gateway,
    ...(version ? { version } : {}),
    available: true,
    nonStreaming: figures(m.max),
    ...(m.stream ? { streaming: figures(m.stream) } : { streamingWhy: m.streamWhy ?? 'not measured' }),
    addedAtRate: direct
      ? { p50: +(m.rate.p50 - direct.rate.p50).toFixed(2), p99: +(m.rate.p99 - direct.rate.p99).toFixed(2) }
      : { p50: 0, p99: 0 },
    ...(direct ? { peakRssMb: m.memory.rssMb, peakPssMb: m.memory.pssMb, processes: m.memory.processes } : {}),
  };
}

async function main() {
  const { nats, databaseUrl, mockUrl } = await group.startBackends('bench');
  const port = await freePort();
  const env = brokerEnv({ nats, databaseUrl, mockUrl }, port, API_KEY);
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

  const auth = { authorization: `Bearer ${API_KEY}` };
  const syBodies = chatBodies('openai/gpt-4o-mini');
  const directBodies = syBodies; // the mock ignores the provider prefix
  const { chat } = syBodies;

  console.log(
    `\nSwitchyard benchmark: ${DURATION}s per run, ${ROUNDS} round${ROUNDS > 1 ? 's' : ''} (medians), ${WORKERS === 0 ? 'all services in one process' : `1 ingress + 1 ledger + ${WORKERS} worker processes`}, node ${process.version}, peers: ${PEERS.join(', ') || 'none'}\n`,
  );
  await checkChat('direct', `${direct}/v1/chat/completions`, {}, directBodies.chat);
  await checkChat('switchyard', `${sy}/v1/chat/completions`, auth, syBodies.chat);
  syRequests += 1;
  // Warm up JITs, pools and keep-alive connections on both paths.
  await load('warmup direct', `${direct}/v1/chat/completions`, chat, { connections: 16 });
  await load('warmup switchyard', `${sy}/v1/chat/completions`, chat, { connections: 16, headers: auth, ledger: true });

  // Every gateway is made ready first (peers installed, started, checked and warmed up), then measured
  // in BENCH_ROUNDS interleaved rounds (direct, Switchyard, each peer; the order rotates per round),
  // and each figure is the median over the rounds: this machine's speed drifts over minutes, and a
  // gateway measured alone in a slow minute would carry that into its ratios.
  const peerInfo: Record<string, { version?: string; settings?: string; installSeconds?: number; startSeconds?: number }> = {};
  const unavailable: GatewayRow[] = [];
  const ready: Array<{ name: string; gateway: PeerGateway; peer: RunningPeer; bodies: { chat: string; stream: string } }> = [];
  for (const name of PEERS) {
    const gateway = KNOWN_PEERS[name];
    if (!gateway) {
      unavailable.push({ gateway: name, available: false, why: `unknown peer (known: ${Object.keys(KNOWN_PEERS).join(', ')})` });
      continue;
    }
    peerInfo[name] = { version: gateway.version, settings: gateway.settings };
    console.log(`\n${name} ${gateway.version}: ${gateway.settings}`);
    const installed = gateway.install();
    if (!installed.ok) {
      console.log(`${name}: not available: ${installed.why}`);
      unavailable.push({ gateway: name, version: gateway.version, available: false, why: installed.why });
      continue;
    }
    if (installed.installSeconds !== undefined) {
      peerInfo[name].installSeconds = installed.installSeconds;
      console.log(`${name}: installed in ${installed.installSeconds} s`);
    }
    try {
      const t0 = performance.now();
      const peer = await gateway.start(`${direct}/v1`);
      group.cleanups.push(() => peer.stop()); // also on failure or Ctrl-C
      peerInfo[name].startSeconds = +((performance.now() - t0) / 1000).toFixed(1);
      const bodies = chatBodies(peer.model);
      await checkChat(name, peer.url, peer.headers, bodies.chat);
      await runLoad({ url: peer.url, body: bodies.chat, headers: peer.headers, connections: 16, durationSeconds: 2 });
      pauseGroup(peer.pid, true); // resumed only while it is measured
      ready.push({ name, gateway, peer, bodies });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      console.log(`${name}: not available: ${why}`);
      unavailable.push({ gateway: name, version: gateway.version, available: false, why });
    }
  }

  // nats-server is sampled on its own: the gateway row is the broker's processes, NATS is infrastructure.
  const natsMemory = new PeakMemory(() => [nats.pid()]);
  const measured: Record<string, GatewayMeasurement[]> = { direct: [], switchyard: [] };
  const cpuUs: number[] = [];
  const natsCpuUs: number[] = [];
  const lineup: Array<{ key: string; measure: () => Promise<GatewayMeasurement> }> = [
    { key: 'direct', measure: () => measureGateway('direct', `${direct}/v1/chat/completions`, directBodies, {}, [], false) },
    {
      key: 'switchyard',
      measure: async () => {
        let cpu0 = 0;
        let nats0 = 0;
        let cpu = 0;
        let natsCpu = 0;
        const m = await measureGateway(
          'switchyard',
          `${sy}/v1/chat/completions`,
          syBodies,
          auth,
          brokerPids,
          true,
          {
            beforeMax: () => {
              cpu0 = treeCpuSeconds(brokerPids);
              nats0 = cpuSeconds(nats.pid());
            },
            afterMax: () => {
              cpu = treeCpuSeconds(brokerPids) - cpu0;
              natsCpu = cpuSeconds(nats.pid()) - nats0;
            },
          },
          [...brokerPids, nats.pid()],
        );
        // nats-server's share: JetStream store of the request, the events stream, usage, acks.
        cpuUs.push(Math.round((cpu * 1e6) / m.max.served));
        natsCpuUs.push(Math.round((natsCpu * 1e6) / m.max.served));
        return m;
      },
    },
    ...ready.map(({ name, gateway, peer, bodies }) => ({
      key: name,
      measure: async () => {
        pauseGroup(peer.pid, false);
        try {
          return await measureGateway(`${name} ${gateway.version}`, peer.url, bodies, peer.headers, [peer.pid], false);
        } finally {
          pauseGroup(peer.pid, true);
        }
      },
    })),
  ];
  for (const { key } of lineup) measured[key] ??= [];
  for (let round = 0; round < ROUNDS; round++) {
    if (ROUNDS > 1) console.log(`\nround ${round + 1} of ${ROUNDS}`);
    for (let i = 0; i < lineup.length; i++) {
      const { key, measure } = lineup[(i + round) % lineup.length]!;
      measured[key]!.push(await measure());
    }
  }
  const natsPeak = natsMemory.stop();
  const directM = medianMeasurement(measured.direct!);
  const syM = medianMeasurement(measured.switchyard!);
  // The baseline and Switchyard itself must stream correctly; only a peer may fail and stay in the table.
  if (!directM.stream) throw new Error(`direct: ${directM.streamWhy}`);
  if (!syM.stream) throw new Error(`switchyard: ${syM.streamWhy}`);
  const cpuUsPerRequest = Math.round(median(cpuUs));
  const natsCpuUsPerRequest = Math.round(median(natsCpuUs));

  const rows: GatewayRow[] = [measuredRow('direct', undefined, directM, null), measuredRow('switchyard', undefined, syM, directM)];
  const results: Record<string, Result> = {
    directRate: directM.rate,
    directMax: directM.max,
    directStream: directM.stream,
    syRate: syM.rate,
    syMax: syM.max,
    syStream: syM.stream,
  };
  // CPU per stream of each gateway's processes during its streaming load (Switchyard: broker and
  // nats-server; the mock and the load generator are not counted for anyone).
  const streamCpuUs: Record<string, number> = {};
  if (syM.streamCpuUs !== undefined) streamCpuUs.switchyard = syM.streamCpuUs;
  for (const { name, gateway } of ready) {
    const m = medianMeasurement(measured[name]!);
    rows.push(measuredRow(name, gateway.version, m, directM));
    results[`${name}Rate`] = m.rate;
    results[`${name}Max`] = m.max;
    if (m.stream) results[`${name}Stream`] = m.stream;
    if (m.streamCpuUs !== undefined) streamCpuUs[name] = m.streamCpuUs;
  }
  rows.push(...unavailable);

  // Time to first token on the default 20-token stream whatever the loads streamed: only the first
  // token is timed, and 600 sequential streams of spaced tokens would take minutes.
  const ttftStream = chatBodies('openai/gpt-4o-mini', { tokens: 20 }).stream;
  const ttftDirect = await ttft(`${direct}/v1/chat/completions`, ttftStream, {}, 300);
  const ttftSy = await ttft(`${sy}/v1/chat/completions`, ttftStream, auth, 300);

  // Exactly-once check: every request Switchyard answered has one usage row, no more.
  const answered = syRequests + 300; // + the sequential TTFT streams
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const countRows = async () => Number((await db.query('select count(*) from usage')).rows[0].count);
  let rows_ = 0;
  for (let i = 0; i < 100; i++) {
    rows_ = await countRows();
    if (rows_ >= answered + 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await db.end();

  const syRow = rows[1] as MeasuredGateway;
  const table = peerTable(rows, { rate: RATE, connections: CONNECTIONS });
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cores: availableParallelism(),
    durationSeconds: DURATION,
    rounds: ROUNDS,
    rate: RATE,
    connections: CONNECTIONS,
    stream: STREAM,
    chatTurns: HISTORY.length,
    topology: WORKERS === 0 ? 'single process' : `ingress + ledger + ${WORKERS} workers`,
    added: {
      p50AtRate: syRow.addedAtRate.p50,
      p99AtRate: syRow.addedAtRate.p99,
      ttftP50: +(ttftSy.p50 - ttftDirect.p50).toFixed(2),
      ttftP99: +(ttftSy.p99 - ttftDirect.p99).toFixed(2),
    },
    peers: peerInfo,
    gateways: rows,
    ratios: rows
      .filter((r): r is MeasuredGateway => r.available && r.gateway !== 'direct' && r.gateway !== 'switchyard')
      .map((r) => ratios(syRow, r)),
    throughput: {
      direct: directM.max.rps,
      switchyard: syM.max.rps,
      streamingDirect: directM.stream.rps,
      streamingSwitchyard: syM.stream.rps,
    },
    brokerPeakRssMb: syM.memory.rssMb,
    natsServerPeakRssMb: natsPeak.rssMb,
    brokerCpuMicrosecondsPerRequest: cpuUsPerRequest,
    natsServerCpuMicrosecondsPerRequest: natsCpuUsPerRequest,
    streamCpuMicrosecondsPerStream: streamCpuUs,
    ttft: { direct: ttftDirect, switchyard: ttftSy },
    usageRows: { answeredBySwitchyard: answered, rowsInLedger: rows_ },
    results,
    markdown: table,
  };
  console.log(`
added latency at ${RATE} req/s:  p50 +${summary.added.p50AtRate} ms   p99 +${summary.added.p99AtRate} ms
added time to first token:  p50 +${summary.added.ttftP50.toFixed(2)} ms   p99 +${summary.added.ttftP99.toFixed(2)} ms (sequential, ${300} streams)
broker CPU per request:     ${cpuUsPerRequest} µs (all broker processes, non-streaming at max load); nats-server ${natsCpuUsPerRequest} µs
CPU per stream:             ${Object.entries(streamCpuUs)
    .map(([k, v]) => `${k} ${v} µs`)
    .join(', ')} (${STREAM_LABEL}; process trees, Switchyard with nats-server)
broker peak RSS:            ${summary.brokerPeakRssMb} MB (nats-server ${summary.natsServerPeakRssMb} MB, Postgres not counted)
usage ledger:               ${rows_} rows for ${answered} answered requests${rows_ === answered ? ' (exactly once)' : ' (MISMATCH)'}
`);
  console.log(table);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${summary.date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(summary, null, 2));
  console.log(`\nwritten: ${file}`);
}

// Peers run in their own process groups (to stop their workers with them), so Ctrl-C in the terminal
// does not reach them: stop everything here.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void group.stopAll('SIGKILL').finally(() => process.exit(130));
  });
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
