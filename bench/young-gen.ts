// What the worker's upstream HTTP client leaves behind for the young-generation GC. One client
// process per variant calls the mock upstream (its own process) at BENCH_RATE for BENCH_DURATION
// seconds, one request at a time, reading each non-streaming body whole, under --trace-gc-nvp; the
// scavenges after the first 3 s are summed: bytes that survived each scavenge per request in
// between, and the scavenge pause. Variants: the worker's own sendUpstream (undici request() with
// its Agent when this was written; node:http after that; undici's dispatch() since "dispatch
// upstream" in docs/benchmarks.md), and node:http with a keep-alive Agent. bench/upstream-client.ts
// compares the clients with many calls in flight.
//
//   node bench/young-gen.ts
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { median } from './load.ts';
import { ProcessGroup } from './processes.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';

const RATE = Number(process.env.BENCH_RATE ?? 350);
const DURATION = Number(process.env.BENCH_DURATION ?? 15);
const SETTLE_MS = 3_000;
const CLIENTS = ['undici', 'node-http'] as const;
type Client = (typeof CLIENTS)[number];

async function runClient(client: Client, mockUrl: string): Promise<void> {
  const url = `${mockUrl}/v1/chat/completions`;
  const headers = { 'content-type': 'application/json', authorization: 'Bearer bench' };
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  const { sendUpstream } = await import('../services/worker/upstream.ts');
  const http = await import('node:http');
  const agent = new http.Agent({ keepAlive: true });
  const once = async () => {
    if (client === 'undici') {
      const res = await sendUpstream({ url, headers, body } as Parameters<typeof sendUpstream>[0], new AbortController().signal, 600_000);
      await res.body.text();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(body);
    });
  };
  const until = Date.now() + DURATION * 1000;
  const cpu0 = process.cpuUsage();
  let n = 0;
  const started = Date.now();
  while (Date.now() < until) {
    await once();
    n++;
    const due = started + (n * 1000) / RATE;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(`requests=${n} cpu_us=${Math.round((cpu.user + cpu.system) / n)}`);
}

function summarize(log: string): { requests: number; cpuUs: number; scavenges: number; survivedPerRequestKb: number; pauseMs: number } {
  const text = readFileSync(log, 'utf8');
  const requests = Number(/requests=(\d+)/.exec(text)?.[1] ?? 0);
  const cpuUs = Number(/cpu_us=(\d+)/.exec(text)?.[1] ?? 0);
  const value = (line: string, key: string) => Number(new RegExp(` ${key}=([0-9.]+)`).exec(line)?.[1] ?? NaN);
  const at = (line: string) => Number(/\]\s+(\d+) ms:/.exec(line)?.[1] ?? 0);
  const scavenges = text.split('\n').filter((l) => l.includes('gc=s') && at(l) > SETTLE_MS + 1_000);
  const span = scavenges.length > 1 ? at(scavenges[scavenges.length - 1]!) - at(scavenges[0]!) : 0;
  const survived = scavenges.slice(1).reduce((s, l) => s + value(l, 'new_space_survived'), 0);
  const requestsInSpan = (requests * span) / (DURATION * 1000);
  return {
    requests,
    cpuUs,
    scavenges: scavenges.length,
    survivedPerRequestKb: requestsInSpan ? +(survived / requestsInSpan / 1024).toFixed(2) : 0,
    pauseMs: +median(scavenges.map((l) => value(l, 'pause'))).toFixed(2),
  };
}

async function main() {
  if (process.env.YOUNG_GEN_CLIENT) return runClient(process.env.YOUNG_GEN_CLIENT as Client, process.env.MOCK_URL!);
  const group = new ProcessGroup();
  try {
    const mockPort = await freePort();
    group.run('services/mock-providers/main.ts', { MOCK_PORT: String(mockPort), LOG_LEVEL: 'warn' });
    const mockUrl = `http://127.0.0.1:${mockPort}`;
    await waitFor(async () => (await fetch(`${mockUrl}/_mock/stats`)).ok, { what: 'mock upstream ready' });
    mkdirSync('.data', { recursive: true });
    for (const client of CLIENTS) {
      const log = `.data/young-gen-${client}.log`;
      const child = spawn(process.execPath, ['--max-semi-space-size=16', '--trace-gc-nvp', 'bench/young-gen.ts'], {
        env: { ...process.env, YOUNG_GEN_CLIENT: client, MOCK_URL: mockUrl },
        stdio: ['ignore', openSync(log, 'w'), 'inherit'],
      });
      await new Promise((r) => child.once('exit', r));
      const s = summarize(log);
      console.log(
        `${client}: ${s.requests} requests at ${RATE}/s, ${s.cpuUs} µs CPU each, ${s.scavenges} scavenges, ` +
          `${s.survivedPerRequestKb} KB per request survived a scavenge, scavenge pause p50 ${s.pauseMs} ms`,
      );
    }
  } finally {
    await group.stopAll();
  }
}

await main();
