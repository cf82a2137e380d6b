// System calls per request of the broker and of nats-server at a fixed rate and at max load, counted
// with `strace -f -c` attached to each (strace slows them down, so read the counts, not the times).
// At a moderate rate each call that waits (epoll_pwait, futex) is likely a wake-up of its own, which
// is where a gateway's CPU per request grows when requests stop sharing reads and writes.
//
//   node bench/syscalls.ts                    # 600 req/s and 64 connections, 6 s each
//   BENCH_RATE=300 BENCH_DURATION=10 node bench/syscalls.ts
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { runLoad, served, type LoadOptions } from './load.ts';
import { benchBodies, ProcessGroup } from './processes.ts';

const RATE = Number(process.env.BENCH_RATE ?? 600);
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const API_KEY = 'sk-bench';

/** `strace -c`'s summary: calls per syscall name. */
export function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)(?:\s+\d+)?\s+(\w+)\s*$/.exec(line);
    if (m && m[2] !== 'total') calls.set(m[2]!, Number(m[1]));
  }
  return calls;
}

async function traced<T>(
  pids: Record<string, number>,
  run: () => Promise<T>,
): Promise<{ result: T; calls: Record<string, Map<string, number>> }> {
  const tracers: Array<[string, ChildProcess, string]> = Object.entries(pids).map(([name, pid]) => {
    const out = `/tmp/sy-strace-${name}-${process.pid}.txt`;
    return [name, spawn('strace', ['-f', '-c', '-o', out, '-p', String(pid)], { stdio: 'ignore' }), out];
  });
  await new Promise((r) => setTimeout(r, 500)); // attached
  const result = await run();
  const calls: Record<string, Map<string, number>> = {};
  for (const [name, t, out] of tracers) {
    t.kill('SIGINT');
    await once(t, 'exit');
    calls[name] = parseStraceSummary(readFileSync(out, 'utf8'));
    rmSync(out, { force: true });
  }
  return { result, calls };
}

function report(label: string, requests: number, calls: Record<string, Map<string, number>>): void {
  console.log(`\n${label}: ${requests} requests`);
  for (const [name, m] of Object.entries(calls)) {
    const top = [...m].sort((a, b) => b[1] - a[1]).filter(([, n]) => n / requests >= 0.05);
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    console.log(
      `  ${name.padEnd(12)} ${(total / requests).toFixed(1).padStart(5)} per request: ${top.map(([s, n]) => `${s} ${(n / requests).toFixed(2)}`).join(', ')}`,
    );
  }
}

if (import.meta.main) {
  if (spawnSync('sh', ['-c', 'command -v strace'], { stdio: 'ignore' }).status !== 0) {
    console.error('strace is missing: apt-get install -y strace');
    process.exit(1);
  }
  const group = new ProcessGroup();
  try {
    const backends = await group.startBackends('syscalls');
    const { process: broker, url } = await group.startBroker(backends, API_KEY);
    const load: LoadOptions = {
      url: `${url}/v1/chat/completions`,
      body: benchBodies.chat,
      headers: { authorization: `Bearer ${API_KEY}` },
      connections: 64,
      durationSeconds: DURATION,
    };
    await runLoad({ ...load, durationSeconds: 3 }); // JIT, pools
    const pids = { broker: broker.pid!, 'nats-server': backends.nats.pid()! };
    const atRate = await traced(pids, () => runLoad({ ...load, rate: RATE }));
    report(`${RATE} req/s`, served(atRate.result), atRate.calls);
    const atMax = await traced(pids, () => runLoad(load));
    report(`max load, 64 connections (${Math.round(atMax.result.rps)} req/s under strace)`, served(atMax.result), atMax.calls);
  } finally {
    await group.stopAll();
  }
}
