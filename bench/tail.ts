// Where the latency tail at a moderate fixed rate comes from: the one-process broker (services/all)
// on a throwaway nats-server and Postgres with --trace-gc, warmed up on all 64 connections, then an
// open loop at BENCH_RATE for BENCH_DURATION seconds. Prints the percentiles, the worst latency per
// 250 ms of the run (a periodic stall shows as a pattern), and the GC pauses from --trace-gc.
//
//   node bench/tail.ts                                              # 300 req/s, 10 s, npm start's flags
//   BENCH_NODE_FLAGS='--max-semi-space-size=4' node bench/tail.ts   # other V8 flags for the broker
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { ProcessGroup } from './processes.ts';
import { startNatsServer } from '../test/harness/nats-server.ts';
import { createDatabase, startPostgres } from '../test/harness/postgres.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';

const RATE = Number(process.env.BENCH_RATE ?? 300);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=16').split(' ').filter(Boolean);
const GC_LOG = '.data/tail-gc.log';

async function main() {
  const group = new ProcessGroup();
  const nats = await startNatsServer();
  const pg = await startPostgres();
  try {
    const mockPort = await freePort();
    group.run('services/mock-providers/main.ts', { MOCK_PORT: String(mockPort), LOG_LEVEL: 'warn' });
    const mockUrl = `http://127.0.0.1:${mockPort}`;
    await waitFor(async () => (await fetch(`${mockUrl}/_mock/stats`)).ok, { what: 'mock ready' });
    const port = await freePort();
    const env = {
      ...process.env,
      NATS_URL: nats.url,
      DATABASE_URL: await createDatabase(pg.url, 'tail'),
      OPENAI_BASE_URL: `${mockUrl}/v1`,
      OPENAI_API_KEY: 'sk-upstream',
      BOOTSTRAP_API_KEY: 'sk-bench',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      HOST: '127.0.0.1',
    };
    // --trace-gc writes to stdout: kept in a file and read at the end.
    const broker = spawn(process.execPath, [...FLAGS, '--trace-gc', 'services/all/main.ts'], {
      env,
      stdio: ['ignore', openSync(GC_LOG, 'w'), 'inherit'],
    });
    group.children.push(broker);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, { timeoutMs: 30_000, what: 'broker ready' });

    const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] });
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64 });
    const send = async () => {
      const r = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
        body,
      });
      await r.body.dump();
    };
    // Every connection opened and every code path compiled before anything is measured.
    for (let w = 0; w < 20; w++) await Promise.all(Array.from({ length: 64 }, () => send()));
    await new Promise((r) => setTimeout(r, 1000));

    const samples: Array<[number, number]> = []; // [due ms since start, latency ms]
    const inflight = new Set<Promise<void>>();
    const interval = 1000 / RATE;
    const start = performance.now();
    for (let i = 0; performance.now() < start + DURATION * 1000;) {
      for (const now = performance.now(); start + i * interval <= now; i++) {
        const due = start + i * interval;
        const p = send().then(() => void samples.push([due - start, performance.now() - due]));
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      await new Promise((r) => setTimeout(r, Math.max(0, start + i * interval - performance.now())));
    }
    await Promise.all(inflight);
    await pool.close();

    const lat = samples.map((s) => s[1]).sort((a, b) => a - b);
    const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * x))]!.toFixed(2);
    console.log(`${lat.length} requests at ${RATE} req/s, flags ${FLAGS.join(' ') || '(none)'}`);
    console.log(`latency p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms`);
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
    await nats.stop();
    await pg.destroy();
  }
  const lines = readFileSync(GC_LOG, 'utf8').split('\n');
  for (const [kind, re] of [
    ['scavenges', /Scavenge/],
    ['mark-compacts', /Mark-Compact/],
  ] as const) {
    const ms = lines
      .filter((l) => re.test(l))
      .map((l) => Number(/, ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1] ?? 0))
      .sort((a, b) => a - b);
    if (ms.length)
      console.log(`${kind} (whole run): ${ms.length}, pause p50 ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
