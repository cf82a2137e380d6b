// Batch priority. Interactive consumers are pushed to the worker (consume()); batch consumers are
// only pulled (fetch()) for as many messages as there is room for right now, so nothing waits in a
// worker's buffer while interactive work needs the slots, and a batch message is never held long
// enough to be redelivered. `room()` is the worker's free capacity for batch work (0 while any
// interactive request waits for a slot).
//
// Slots alone do not keep interactive latency flat: against a fast upstream the cost of batch work is
// CPU (this process's event loop, NATS, Postgres), not slots. So while interactive requests are seen,
// batch intake is also paced by a token bucket whose rate follows this process's event-loop delay
// (AIMD: halve when the loop lags, creep up while it does not). Without interactive traffic, batch
// runs unpaced.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { consumerNames, STREAMS } from '../../shared/nats/topology.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';

export interface BatchPumpOptions {
  js: JetStreamClient;
  providers: string[];
  log: Logger;
  /** Batch requests this process runs at once, over all providers. */
  maxInflight: number;
  room(): number;
  /** Requests of any priority this process runs now (interactive = this minus batch). */
  inflight(): number;
  run(msg: JsMsg): Promise<void>;
  /** Event-loop p99 delay (ms) above which batch pacing backs off while interactive work is present. */
  lagTargetMs?: number;
  /** Batch lines allowed to run at once while interactive work is present. */
  pacedMaxInflight?: number;
}

export interface BatchPump {
  readonly inflight: number;
  /** Capacity was freed: look for batch work now rather than at the next poll. */
  wake(): void;
  /** An interactive request arrived: pace batch intake from now on (sampling alone misses short requests). */
  noteInteractive(): void;
  /** Whether the pacer runs: while interactive requests or batch lines were seen in the last second. */
  readonly pacing: boolean;
  close(): Promise<void>;
}

export async function startBatchPump(opts: BatchPumpOptions): Promise<BatchPump> {
  let inflight = 0;
  let closing = false;
  // ---- pacing while interactive work is present ----
  const lagTarget = opts.lagTargetMs ?? 4;
  const MIN_RATE = 5;
  const MAX_RATE = 100_000;
  const PACED_MAX_INFLIGHT = opts.pacedMaxInflight ?? 4;
  let rate = 50; // batch requests per second allowed while interactive traffic is seen
  let ticks = 0;
  let tokens = 0;
  let interactiveSeenAt = 0;
  const lag = monitorEventLoopDelay({ resolution: 2 });
  const tick = () => {
    const now = Date.now();
    if (opts.inflight() - inflight > 0) interactiveSeenAt = now;
    if (++ticks % 5 === 0) {
      const p99 = lag.percentile(99) / 1e6;
      lag.reset();
      if (p99 > lagTarget) rate = Math.max(MIN_RATE, rate / 2);
      else rate = Math.min(MAX_RATE, rate + 5);
    }
    tokens = Math.min(rate / 5, tokens + rate / 50); // 20 ms refill, at most 200 ms of burst
    if (inflight === 0 && now - interactiveSeenAt >= 1_000) stopPacer(now);
  };
  // The pacer (the 20 ms tick and the 2 ms delay monitor) sleeps while nothing runs: awake, it woke an
  // idle broker 550 times a second, 4% of a core (docs/benchmarks.md, levers row "idlepacer"). It
  // wakes on any interactive request or batch line. An idle spell counts as ticks without delay, as
  // when the pacer ran through it: the rate creeps up and the tokens refill.
  let pace: NodeJS.Timeout | null = null;
  let stoppedAt = 0;
  const startPacer = () => {
    if (pace || closing) return;
    if (stoppedAt) {
      const idleTicks = Math.floor((Date.now() - stoppedAt) / 20);
      rate = Math.min(MAX_RATE, rate + 5 * Math.floor(idleTicks / 5));
      tokens = Math.min(rate / 5, tokens + (rate / 50) * idleTicks);
    }
    lag.reset();
    lag.enable();
    pace = setInterval(tick, 20);
    pace.unref();
  };
  const stopPacer = (now: number) => {
    if (!pace) return;
    clearInterval(pace);
    pace = null;
    lag.disable();
    stoppedAt = now;
  };
  startPacer();
  const paced = () => Date.now() - interactiveSeenAt < 1_000;
  // Smoothed time a batch line holds its slot, from its delivery to its end: the upstream call and
  // everything the line waits for before its ack (its final event, its usage record's linger). The
  // upstream's response time alone sized the window too small by that wait: 8 lines of ~27 ms each
  // against a millisecond upstream, 300 lines/s (docs/benchmarks.md, "Batch"). Full window until measured.
  let holdMs = 0;
  const windowSize = () => batchWindow(opts.maxInflight, holdMs || SLOW_UPSTREAM_MS);

  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });

  const loops: Promise<void>[] = [];
  for (const provider of opts.providers) {
    const consumer: Consumer = await opts.js.consumers.get(STREAMS.requests, consumerNames.worker(provider, 'batch'));
    loops.push(
      (async () => {
        while (!closing) {
          let free = Math.min(windowSize() - inflight, opts.room());
          // While interactive work is present, few batch lines run at once: lines already running
          // cannot be pre-empted, so their number bounds how much CPU an interactive request competes with.
          if (paced()) free = Math.min(free, Math.floor(tokens), PACED_MAX_INFLIGHT - inflight);
          if (free <= 0) {
            await idle(paced() ? 20 : 250);
            continue;
          }
          try {
            // 1 s is the client's minimum expiry; room is re-checked at least this often.
            const msgs = await consumer.fetch({ max_messages: free, expires: 1_000 });
            for await (const msg of msgs) {
              if (closing) {
                msg.nak();
                continue;
              }
              inflight++;
              startPacer();
              if (paced()) tokens--;
              const started = performance.now();
              // run() never rejects: the worker's runTracked() catches and logs.
              void opts.run(msg).finally(() => {
                const ms = performance.now() - started;
                holdMs = holdMs === 0 ? ms : holdMs * 0.95 + ms * 0.05;
                inflight--;
                wake();
              });
            }
          } catch (err) {
            if (!closing) opts.log.warn({ err: (err as Error).message, provider }, 'batch fetch failed');
            await idle(1_000);
          }
        }
      })(),
    );
  }

  return {
    get inflight() {
      return inflight;
    },
    wake,
    noteInteractive() {
      const now = Date.now();
      startPacer();
      // First interactive request after a quiet spell: stop the burst allowance the idle time built up.
      if (now - interactiveSeenAt >= 1_000) tokens = 0;
      interactiveSeenAt = now;
    },
    get pacing() {
      return pace !== null;
    },
    async close() {
      closing = true;
      stopPacer(Date.now());
      wake();
      await Promise.all(loops);
    },
  };
}

const SLOW_UPSTREAM_MS = 200;
const MIN_WINDOW = 8;

/**
 * Batch lines a worker keeps in flight. Little's law: lines in flight = throughput × the time each
 * holds its slot. Against upstreams answering well under SLOW_UPSTREAM_MS a small window already
 * saturates the CPU, and a small window is also a small burst of work for an arriving interactive
 * request to wait behind (running lines can't be pre-empted). Slow upstreams (real models) get all
 * of maxInflight.
 */
export function batchWindow(maxInflight: number, lineHoldMs: number): number {
  return Math.max(Math.min(MIN_WINDOW, maxInflight), Math.min(maxInflight, Math.ceil((maxInflight * lineHoldMs) / SLOW_UPSTREAM_MS)));
}
