// Where a request's CPU goes on the whole machine: every process a request touches (the gateway,
// nats-server, Postgres, the mock upstream, this load generator), per answered request, for
// Switchyard and the Go peers, at maximum load and at fixed rates. On a machine of N cores the
// totals set each gateway's ceiling (N x 1,000,000 µs of CPU a second), so the table says how far
// the gateway's own side is from a peer's, and how much of the machine each one keeps busy.
//
//   node bench/machine-cpu.ts                                   # switchyard, go-proxy, gomodel-like
//   BENCH_GATEWAYS=switchyard BENCH_RATES=600 node bench/machine-cpu.ts
//   BENCH_GATEWAYS=switchyard,gomodel-like,node-proxy BENCH_RATES= node bench/machine-cpu.ts  # + the bare Node proxy
//   BENCH_DURATION=8 (s per load) BENCH_CONNECTIONS=64 BENCH_RATES=300,600,1200,2400 ('' for none)
//
// Each gateway runs alone on fresh backends (the Go peers get them too, idle, so every row counts
// the same processes). Results: bench/results/machine-cpu-<date>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { runLoad, served, type LoadResult } from './load.ts';
import { benchBodies, cpuSeconds, ProcessGroup, treeCpuSeconds } from './processes.ts';
import { goProxy } from './peers/go-proxy.ts';
import { gomodelLike } from './peers/gomodel-like.ts';
import { nodeProxy } from './peers/node-proxy.ts';
import type { PeerGateway } from './peers/gateway.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const RATES = (process.env.BENCH_RATES ?? '300,600,1200,2400').split(',').filter(Boolean).map(Number);
const GATEWAYS = (process.env.BENCH_GATEWAYS ?? 'switchyard,go-proxy,gomodel-like').split(',').map((s) => s.trim());
const PEERS: Record<string, PeerGateway> = { 'go-proxy': goProxy, 'gomodel-like': gomodelLike, 'node-proxy': nodeProxy };
const API_KEY = 'sk-bench';

/** The processes a request touches, in the order the tables print them. */
export const PARTS = ['gateway', 'nats-server', 'postgres', 'mock', 'load generator'] as const;
export type Part = (typeof PARTS)[number];
/** The gateway's own side: what a deployment of it runs (the mock and the load generator stand for the world). */
const GATEWAY_SIDE: Part[] = ['gateway', 'nats-server', 'postgres'];

export interface MachineSample {
  gateway: string;
  /** 0: closed loop at max load. */
  rate: number;
  rps: number;
  /** µs of CPU (user + system) per answered request, per part. */
  us: Record<Part, number>;
}

/** µs per request from CPU seconds used by each part around one load. */
export function perRequest(cpuSeconds: Record<Part, number>, requests: number): Record<Part, number> {
  const us = {} as Record<Part, number>;
  for (const p of PARTS) us[p] = requests ? Math.round((cpuSeconds[p] * 1e6) / requests) : 0;
  return us;
}

export const total = (s: MachineSample, parts: readonly Part[] = PARTS): number => parts.reduce((a, p) => a + s.us[p], 0);

/** The max-load table: µs per part, the total, req/s and the share of the machine's cores that is. */
export function maxLoadTable(samples: MachineSample[], cores: number): string {
  const rows = samples
    .filter((s) => s.rate === 0)
    .map((s) => {
      const busy = (total(s) * s.rps) / (cores * 1e6);
      return `| ${s.gateway} | ${PARTS.map((p) => s.us[p]).join(' | ')} | ${total(s)} µs | ${total(s, GATEWAY_SIDE)} µs | ${s.rps.toLocaleString('en-US')} | ${Math.round(busy * 100)}% |`;
    });
  return [
    `| at max load (${CONNECTIONS} connections) | ${PARTS.join(' | ')} | total | gateway's side | req/s | of ${cores} cores |`,
    `|---|${PARTS.map(() => '---').join('|')}|---|---|---|---|`,
    ...rows,
  ].join('\n');
}

/** The fixed-rate table: the gateway's side per request at each rate, per gateway. */
export function ratesTable(samples: MachineSample[]): string {
  const gateways = [...new Set(samples.map((s) => s.gateway))];
  const rates = [...new Set(samples.filter((s) => s.rate > 0).map((s) => s.rate))].sort((a, b) => a - b);
  if (!rates.length) return '';
  const cell = (g: string, r: number) => {
    const s = samples.find((x) => x.gateway === g && x.rate === r);
    return s ? `${total(s, GATEWAY_SIDE)} µs` : '';
  };
  return [
    `| rate | ${gateways.map((g) => `${g} (gateway's side)`).join(' | ')} |`,
    `|---|${gateways.map(() => '---').join('|')}|`,
    ...rates.map((r) => `| ${r.toLocaleString('en-US')} req/s | ${gateways.map((g) => cell(g, r)).join(' | ')} |`),
  ].join('\n');
}

async function measureGateway(name: string): Promise<MachineSample[]> {
  const group = new ProcessGroup();
  try {
    const b = await group.startBackends(`machine_cpu_${name.replace(/\W/g, '_')}`);
    // A part whose process is not found would read as 0 µs, silently.
    if (!b.postgresPid() || !b.nats.pid() || !b.mockPid) throw new Error('machine-cpu: a backend process was not found');
    let url: string;
    let headers: Record<string, string>;
    let body = benchBodies.chat;
    let gatewayPid: number;
    if (name === 'switchyard') {
      const broker = await group.startBroker(b, API_KEY);
      gatewayPid = broker.process.pid!;
      url = `${broker.url}/v1/chat/completions`;
      headers = { authorization: `Bearer ${API_KEY}` };
    } else {
      const peer = PEERS[name];
      if (!peer) throw new Error(`unknown gateway ${name} (BENCH_GATEWAYS: switchyard, ${Object.keys(PEERS).join(', ')})`);
      const installed = peer.install();
      if (!installed.ok) throw new Error(`${name}: ${installed.why}`);
      const running = await peer.start(`${b.mockUrl}/v1`);
      group.cleanups.push(() => running.stop());
      ({ url, headers } = running);
      gatewayPid = running.pid;
      body = JSON.stringify({ ...(JSON.parse(body) as object), model: running.model });
    }
    const seconds: Record<Part, () => number> = {
      gateway: () => treeCpuSeconds([gatewayPid]),
      'nats-server': () => treeCpuSeconds([b.nats.pid()]),
      postgres: () => treeCpuSeconds([b.postgresPid()]),
      mock: () => treeCpuSeconds([b.mockPid]),
      // This process alone: every other part is its child, so its tree would be the whole machine.
      'load generator': () => cpuSeconds(process.pid),
    };
    const cpu = () => Object.fromEntries(PARTS.map((p) => [p, seconds[p]()])) as Record<Part, number>;
    const measure = async (rate: number): Promise<MachineSample> => {
      const before = cpu();
      const r: LoadResult = await runLoad({
        url,
        body,
        headers,
        connections: CONNECTIONS,
        durationSeconds: DURATION,
        ...(rate ? { rate, openAllConnections: true } : {}),
      });
      const after = cpu();
      if (r.errors + r.non2xx) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
      const used = Object.fromEntries(PARTS.map((p) => [p, after[p] - before[p]])) as Record<Part, number>;
      const sample = { gateway: name, rate, rps: r.rps, us: perRequest(used, served(r)) };
      console.log(JSON.stringify(sample));
      return sample;
    };
    await runLoad({ url, body, headers, connections: 16, durationSeconds: 2 }); // JIT, pools, keep-alive
    const samples = [await measure(0)];
    for (const rate of RATES) samples.push(await measure(rate));
    return samples;
  } finally {
    await group.stopAll();
  }
}

if (import.meta.main) {
  const cores = availableParallelism();
  console.log(`machine CPU per request: ${GATEWAYS.join(', ')}; ${DURATION} s per load, ${CONNECTIONS} connections, ${cores} cores`);
  const samples: MachineSample[] = [];
  for (const g of GATEWAYS) samples.push(...(await measureGateway(g)));
  const markdown = [maxLoadTable(samples, cores), ratesTable(samples)].filter(Boolean).join('\n\n');
  console.log(`\n${markdown}`);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/machine-cpu-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(
    file,
    JSON.stringify({ date: new Date().toISOString(), cores, duration: DURATION, connections: CONNECTIONS, samples, markdown }, null, 2),
  );
  console.log(`\nwritten: ${file}`);
}
