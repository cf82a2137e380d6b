// What an upstream call costs the worker's process, by HTTP client: each client in a process of its
// own (npm start's V8 flags, --trace-gc-nvp) calls the mock upstream (its own process) with
// BENCH_CONNECTIONS calls in flight for BENCH_DURATION seconds, reading every non-streaming body
// whole; prints CPU per call, what outlived a young-generation GC per call and the scavenge pause.
//
//   node bench/upstream-client.ts
//   BENCH_RATE=350 BENCH_DURATION=15 node bench/upstream-client.ts   # one call at a time at that
//                                     # rate instead, nothing else in the process (the measurement
//                                     # bench/young-gen.ts made before it was folded in here)
//
// Clients: the worker's sendUpstream (services/worker/upstream.ts: undici's dispatch() with its own
// handler); node:http with a keep-alive Agent, an abort signal and an idle timeout (the worker's
// client before); undici's request(); undici's dispatch() with an empty handler (the floor).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { median } from './load.ts';
import { BROKER_NODE_FLAGS, ProcessGroup } from './processes.ts';
import { scavenges } from '../test/harness/gc-trace.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const RATE = Number(process.env.BENCH_RATE ?? 0);
const CLIENTS = ['sendUpstream', 'node-http', 'undici-request', 'undici-dispatch'] as const;
type Client = (typeof CLIENTS)[number];

async function runClient(client: Client, mockUrl: string): Promise<void> {
  const url = `${mockUrl}/v1/chat/completions`;
  const headers = { 'content-type': 'application/json', authorization: 'Bearer bench' };
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  const { sendUpstream } = await import('../services/worker/upstream.ts');
  const http = await import('node:http');
  const { Pool } = await import('undici');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024, scheduling: 'lifo' });
  const pool = new Pool(mockUrl, { connections: 1024 });
  const path = new URL(url).pathname;
  const calls: Record<Client, () => Promise<unknown>> = {
    async sendUpstream() {
      const res = await sendUpstream({ url, headers, body }, new AbortController().signal, 600_000);
      return res.body.text();
    },
    'node-http': () =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(url, { method: 'POST', agent, headers, signal: new AbortController().signal }, (res) => {
          res.on('data', () => {});
          res.on('end', resolve);
        });
        req.setTimeout(600_000);
        req.on('error', reject);
        req.end(body);
      }),
    async 'undici-request'() {
      const res = await pool.request({ method: 'POST', path, headers, body });
      return res.body.text();
    },
    'undici-dispatch': () =>
      new Promise<void>((resolve, reject) => {
        pool.dispatch(
          { method: 'POST', path, headers, body },
          {
            onRequestStart: () => {},
            onResponseStart: () => {},
            onResponseData: () => {},
            onResponseEnd: () => resolve(),
            onResponseError: (_c, err) => reject(err),
          },
        );
      }),
  };
  const call = calls[client];
  const loop = async (until: number, count: { n: number }) => {
    const started = Date.now();
    while (Date.now() < until) {
      await call();
      count.n++;
      const due = started + (count.n * 1000) / RATE; // paced: one call at a time at RATE
      if (RATE > 0 && due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
  };
  const inFlight = RATE > 0 ? 1 : CONNECTIONS;
  const warm = { n: 0 };
  await Promise.all(Array.from({ length: inFlight }, () => loop(Date.now() + 1_000, warm)));
  console.log('measuring');
  const count = { n: 0 };
  const cpu0 = process.cpuUsage();
  const until = Date.now() + DURATION * 1000;
  await Promise.all(Array.from({ length: inFlight }, () => loop(until, count)));
  const cpu = process.cpuUsage(cpu0);
  console.log(`calls=${count.n} cpu_us=${((cpu.user + cpu.system) / count.n).toFixed(1)}`);
  process.exit(0);
}

/** CPU per call, KB that outlived a scavenge per call and the scavenges' median pause (those after "measuring"), from a client's log. */
function summarize(log: string): { calls: number; cpuUs: number; survivedKb: number; pauseMs: number } {
  const text = readFileSync(log, 'utf8');
  const measured = text.slice(text.indexOf('measuring'));
  const calls = Number(/calls=(\d+)/.exec(measured)?.[1] ?? 0);
  const cpuUs = Number(/cpu_us=([0-9.]+)/.exec(measured)?.[1] ?? 0);
  const young = scavenges(measured);
  const survived = young.reduce((sum, s) => sum + s.survived + s.promoted, 0);
  const pauseMs = young.length ? +median(young.map((s) => s.pauseMs)).toFixed(2) : 0;
  return { calls, cpuUs, survivedKb: calls ? +(survived / calls / 1024).toFixed(2) : 0, pauseMs };
}

async function main() {
  if (process.env.UPSTREAM_CLIENT) return runClient(process.env.UPSTREAM_CLIENT as Client, process.env.MOCK_URL!);
  const group = new ProcessGroup();
  try {
    const mockUrl = (await group.startMock()).url;
    mkdirSync('.data', { recursive: true });
    const results = new Map<Client, Array<ReturnType<typeof summarize>>>();
    // Clients interleaved per round, so a drifting machine biases none of them.
    for (let round = 0; round < ROUNDS; round++) {
      for (const client of CLIENTS) {
        const log = `.data/upstream-client-${client}.log`;
        const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, '--trace-gc-nvp', 'bench/upstream-client.ts'], {
          env: { ...process.env, UPSTREAM_CLIENT: client, MOCK_URL: mockUrl },
          stdio: ['ignore', openSync(log, 'w'), 'inherit'],
        });
        const code = await new Promise((r) => child.once('exit', r));
        if (code !== 0) throw new Error(`${client} exited with ${String(code)} (log: ${log})`);
        const s = summarize(log);
        results.set(client, [...(results.get(client) ?? []), s]);
        console.log(
          `round ${round + 1} ${client}: ${s.calls} calls, ${s.cpuUs} µs CPU each, ${s.survivedKb} KB per call outlived a scavenge, pause p50 ${s.pauseMs} ms`,
        );
      }
    }
    console.log(`\n| client | calls/s (rounds) | CPU µs per call (rounds) | KB per call outlived a scavenge | scavenge pause p50 ms |`);
    console.log('|---|---|---|---|---|');
    for (const [client, rs] of results) {
      const list = (f: (r: ReturnType<typeof summarize>) => number) => rs.map(f).join(' / ');
      console.log(
        `| ${client} | ${list((r) => Math.round(r.calls / DURATION))} | ${list((r) => r.cpuUs)} | ${list((r) => r.survivedKb)} | ${list((r) => r.pauseMs)} |`,
      );
    }
  } finally {
    await group.stopAll();
  }
}

await main();
