// Puts the topology back after a nats-server restart. nats-server does not recreate memory-stored
// streams when it restarts on its own (no cluster peer holding a replica): LLM_CANCELS, the rate-limit
// bucket, and LLM_EVENTS with EVENTS_STORAGE=memory are simply gone, and with
// them the durable consumers on them. Measured before this module (test/integration/nats-restart.test.ts):
// every tenant's rate limit failed open and no batch finished until Switchyard itself restarted.
// So after every reconnect each process runs its start-up setup again (idempotent), retrying while
// JetStream is still recovering.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../telemetry/logger.ts';
import { metrics } from '../telemetry/metrics.ts';

export interface TopologyKeeper {
  /** False from a reconnect until the topology is in place again. */
  readonly intact: boolean;
  /** Times the topology was put back after a reconnect (tests, logs). */
  readonly restores: number;
}

export function keepTopology(
  nc: NatsConnection,
  ensure: () => Promise<void>,
  log: Logger,
  opts: { firstRetryMs?: number; maxRetryMs?: number } = {},
): TopologyKeeper {
  const state = { intact: true, restores: 0 };
  let running: Promise<void> | null = null;
  let again = false;

  const restore = async (): Promise<void> => {
    let pause = opts.firstRetryMs ?? 250;
    for (let attempt = 1; !nc.isClosed() && !nc.isDraining(); attempt++) {
      again = false;
      try {
        await ensure();
        // A second reconnect while this ran may have found a newer, empty server: run again.
        if (again) continue;
        state.intact = true;
        state.restores++;
        metrics.natsTopologyMissing.set(0);
        metrics.natsTopologyRestores.inc();
        if (attempt > 1) log.info({ attempts: attempt }, 'NATS topology in place again after the reconnect');
        return;
      } catch (err) {
        if (attempt === 1 || attempt % 10 === 0)
          log.warn({ err: (err as Error).message, attempt }, 'NATS topology not in place after a reconnect; retrying');
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, opts.maxRetryMs ?? 5_000);
      }
    }
  };

  void (async () => {
    // The status iterator ends when the connection closes.
    for await (const s of nc.status()) {
      if (s.type !== 'reconnect') continue;
      state.intact = false;
      metrics.natsTopologyMissing.set(1);
      if (running) {
        again = true;
        continue;
      }
      running = restore().finally(() => (running = null));
    }
  })();
  return state;
}
