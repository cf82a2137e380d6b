// CPU an idle Switchyard burns: the one-process broker (services/all, npm start's V8 flags) on a
// throwaway nats-server and Postgres, settled for BENCH_SETTLE seconds, then its CPU and
// nats-server's over BENCH_DURATION seconds with no traffic (timers, pulls, heartbeats, GC).
//
//   node bench/idle.ts
import { cpuSeconds, ProcessGroup } from './processes.ts';

const SETTLE = Number(process.env.BENCH_SETTLE ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);

const group = new ProcessGroup();
try {
  const backends = await group.startBackends('idle');
  const broker = (await group.startBroker(backends, 'sk-bench')).process;
  await new Promise((r) => setTimeout(r, SETTLE * 1000));
  const natsPid = backends.nats.pid();
  const broker0 = cpuSeconds(broker.pid);
  const nats0 = cpuSeconds(natsPid);
  await new Promise((r) => setTimeout(r, DURATION * 1000));
  const percent = (seconds: number) => ((seconds * 100) / DURATION).toFixed(2);
  console.log(
    `idle CPU over ${DURATION} s (% of one core): broker ${percent(cpuSeconds(broker.pid) - broker0)}, ` +
      `nats-server ${percent(cpuSeconds(natsPid) - nats0)}`,
  );
} finally {
  await group.stopAll();
}
