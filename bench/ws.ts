// WebSocket benchmark: N sockets (default 1,000) to one Switchyard (`services/all/main.ts`, the
// `npm start` shape), each with one streamed chat completion in flight at the same time, against the
// mock upstream; throwaway nats-server and Postgres. Reports successes, wall time, and the RSS of the
// broker and of nats-server (idle, sockets open, peak while the streams run), and their sum's peak:
// the memory target counts every Switchyard process.
//
//   node bench/ws.ts
//   BENCH_SOCKETS=2000 BENCH_TOKENS=100 BENCH_ITL_MS=20 node bench/ws.ts
//   BENCH_NODE_FLAGS='--max-semi-space-size=16' node bench/ws.ts   # the broker's V8 flags (default: npm start's)
import { openSync } from 'node:fs';
import { BROKER_NODE_FLAGS, ProcessGroup, rssMb } from './processes.ts';
import { SwitchyardWsClient } from '../shared/client/ws-client.ts';

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 1_000);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 50);
const ITL_MS = Number(process.env.BENCH_ITL_MS ?? 40);
const API_KEY = 'sk-bench-ws';
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? BROKER_NODE_FLAGS;

const group = new ProcessGroup();
const round = (n: number) => Math.round(n * 100) / 100;

async function main() {
  const backends = await group.startBackends('bench_ws');
  const { process: broker, url: sy } = await group.startBroker(backends, API_KEY, {
    // All sockets use one key; the default cap (100 per key) would refuse the rest.
    env: { WS_MAX_SOCKETS_PER_KEY: String(SOCKETS) },
    flags: NODE_FLAGS,
    // BENCH_BROKER_STDOUT=<file>: keep what the broker prints (with BENCH_NODE_FLAGS='... --trace-gc').
    ...(process.env.BENCH_BROKER_STDOUT ? { stdout: openSync(process.env.BENCH_BROKER_STDOUT, 'w') } : {}),
  });
  const natsPid = backends.nats.pid();
  const rssIdle = rssMb(broker.pid);
  const natsIdle = rssMb(natsPid);

  // Open the sockets in groups so the connect storm does not measure the accept queue.
  const t0 = performance.now();
  const sockets: SwitchyardWsClient[] = [];
  for (let i = 0; i < SOCKETS; i += 100) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(100, SOCKETS - i) }, () => SwitchyardWsClient.connect(sy, API_KEY, { validate: false })),
    );
    sockets.push(...opened);
  }
  const connectSeconds = (performance.now() - t0) / 1000;
  const rssConnected = rssMb(broker.pid);
  const natsConnected = rssMb(natsPid);

  let peak = rssConnected;
  let natsPeak = natsConnected;
  let totalPeak = rssConnected + natsConnected;
  let inFlightPeak = 0;
  let firstChunks = 0;
  const sampler = setInterval(() => {
    const b = rssMb(broker.pid);
    const n = rssMb(natsPid);
    peak = Math.max(peak, b);
    natsPeak = Math.max(natsPeak, n);
    totalPeak = Math.max(totalPeak, b + n);
  }, 100);
  const expected = Array.from({ length: TOKENS }, (_, k) => (k ? ` tok${k}` : 'tok0')).join('');
  const t1 = performance.now();
  const results = await Promise.allSettled(
    sockets.map((ws, i) => {
      let started = false;
      return ws.chat(
        { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `s${i}\nmock:{"tokens":${TOKENS},"itl_ms":${ITL_MS}}` }] },
        {
          onChunk: () => {
            if (started) return;
            started = true;
            inFlightPeak = Math.max(inFlightPeak, ++firstChunks);
          },
        },
      ).result;
    }),
  );
  const streamSeconds = (performance.now() - t1) / 1000;
  clearInterval(sampler);
  const ok = results.filter((r) => r.status === 'fulfilled' && r.value.content === expected).length;
  const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
  for (const ws of sockets) ws.close();

  console.log(
    JSON.stringify(
      {
        sockets: SOCKETS,
        tokens_per_stream: TOKENS,
        itl_ms: ITL_MS,
        min_stream_seconds: round(((TOKENS - 1) * ITL_MS) / 1000),
        connect_seconds: round(connectSeconds),
        streams_ok: ok,
        streams_failed: failed.length,
        first_failure: failed[0] ?? null,
        streams_started_before_any_ended: inFlightPeak,
        all_streams_seconds: round(streamSeconds),
        broker_rss_mb: { idle: round(rssIdle), connected: round(rssConnected), peak: round(peak) },
        nats_server_rss_mb: { idle: round(natsIdle), connected: round(natsConnected), peak: round(natsPeak) },
        broker_and_nats_server_peak_rss_mb: round(totalPeak),
      },
      null,
      2,
    ),
  );
}

try {
  await main();
} finally {
  await group.stopAll('SIGTERM');
}
