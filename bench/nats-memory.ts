// What nats-server's memory is made of under sustained load on the one-process broker (the `npm
// start` shape): rounds of non-streaming then streaming load back to back, with nats-server's RSS,
// its JetStream memory and file use and every stream's messages and bytes (its monitoring port)
// after each phase, the CPU per request of the broker and nats-server, the peak RSS of the two
// together, and at the end the Go heap in use by allocation site (its pprof port, through `go tool
// pprof` when Go is on PATH).
//
//   node bench/nats-memory.ts                                        # 3 rounds of 10 s + 10 s
//   BENCH_STREAMING=0 BENCH_ROUNDS=4 node bench/nats-memory.ts        # non-streaming only
//   GOGC=50 node bench/nats-memory.ts                                # nats-server's Go settings come from the environment
//   BENCH_BROKER_ENV='{"EVENTS_MAX_BYTES":"16777216"}' node bench/nats-memory.ts   # broker settings
//   BENCH_NATS_CPU=1 BENCH_ROUNDS=1 node bench/nats-memory.ts        # and nats-server's CPU profile in the last round
import { execFile, execFileSync } from 'node:child_process';
import { freePort } from '../test/harness/ports.ts';
import { runLoad, served } from './load.ts';
import { benchBodies, cpuSeconds, ProcessGroup, rssMb } from './processes.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const STREAMING = process.env.BENCH_STREAMING !== '0';
/** BENCH_NATS_CPU=1: nats-server's CPU profile during each phase of the last round (needs `go` on PATH). */
const NATS_CPU_PROFILE = process.env.BENCH_NATS_CPU === '1';
const BROKER_ENV = JSON.parse(process.env.BENCH_BROKER_ENV ?? '{}') as Record<string, string>;
const API_KEY = 'sk-bench';

interface StreamDetail {
  name: string;
  state: { messages: number; bytes: number };
}

const group = new ProcessGroup();

/** nats-server's CPU profile over `seconds`, through its pprof port: the top functions by cumulative time. */
function natsCpuProfile(port: number, seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const url = `http://127.0.0.1:${port}/debug/pprof/profile?seconds=${seconds}`;
    execFile('go', ['tool', 'pprof', '-top', '-cum', url], { encoding: 'utf8' }, (err, out) =>
      resolve(err ? `(no CPU profile: ${err.message.split('\n')[0]})` : out.split('\n').slice(4, 40).join('\n')),
    );
  });
}

async function main() {
  const [monitor, profile] = [await freePort(), await freePort()];
  const backends = await group.startBackends('nats_memory', { args: ['-m', String(monitor), '-profile', String(profile)] });
  const { url, process: broker } = await group.startBroker(backends, API_KEY, { env: BROKER_ENV });
  const nats = backends.nats.pid();
  const mb = (bytes: number) => Math.round(bytes / 1048576);

  const state = async () => {
    const get = async (path: string) => (await fetch(`http://127.0.0.1:${monitor}${path}`)).json() as Promise<Record<string, unknown>>;
    const jsz = (await get('/jsz?streams=true')) as {
      memory: number;
      storage: number;
      account_details?: Array<{ stream_detail?: StreamDetail[] }>;
    };
    const streams = (jsz.account_details?.[0]?.stream_detail ?? [])
      .filter((s) => s.state.messages > 0)
      .sort((a, b) => b.state.bytes - a.state.bytes)
      .map((s) => `${s.name} ${s.state.messages} msgs ${mb(s.state.bytes)} MB`);
    return `nats-server RSS ${Math.round(rssMb(nats))} MB, JetStream memory ${mb(jsz.memory)} MB, file ${mb(jsz.storage)} MB; ${streams.join(', ')}`;
  };

  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(nats) + rssMb(broker.pid))), 250);
  const headers = { authorization: `Bearer ${API_KEY}` };
  const phases: Array<[string, string]> = [['non-streaming', benchBodies.chat]];
  if (STREAMING) phases.push(['streaming', benchBodies.stream]);
  console.log(`idle: ${await state()}`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [what, body] of phases) {
      const cpu0 = { broker: cpuSeconds(broker.pid), nats: cpuSeconds(nats) };
      const cpuProfile = NATS_CPU_PROFILE && round === ROUNDS ? natsCpuProfile(profile, Math.max(1, DURATION - 2)) : null;
      const r = await runLoad({ url: `${url}/v1/chat/completions`, body, headers, connections: 64, durationSeconds: DURATION });
      if (r.non2xx || r.errors) throw new Error(`${what}: ${r.non2xx} non-2xx, ${r.errors} errors`);
      const perRequest = (seconds: number) => Math.round((seconds * 1e6) / served(r));
      const cpu = `broker ${perRequest(cpuSeconds(broker.pid) - cpu0.broker)} µs, nats-server ${perRequest(cpuSeconds(nats) - cpu0.nats)} µs per request`;
      console.log(`round ${round}, ${what}: ${Math.round(r.rps)} req/s, ${cpu}; ${await state()}`);
      if (cpuProfile) console.log(`\nnats-server's CPU during it, by function (cumulative):\n${await cpuProfile}\n`);
    }
  }
  clearInterval(sampler);
  console.log(`peak RSS of broker + nats-server: ${Math.round(peak)} MB (broker now ${Math.round(rssMb(broker.pid))} MB)`);
  try {
    const top = execFileSync('go', ['tool', 'pprof', '-top', '-inuse_space', `http://127.0.0.1:${profile}/debug/pprof/heap`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    console.log(`\nnats-server's Go heap in use, by allocation site:\n${top.split('\n').slice(4, 20).join('\n')}`);
  } catch {
    console.log('(no heap profile: `go` is not on PATH)');
  }
}

try {
  await main();
} finally {
  await group.stopAll();
}
