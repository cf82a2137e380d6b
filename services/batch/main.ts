// `npm run batch`: one batch runner process. Run as many as you like: batches are leased one runner
// at a time, and results are collected by a shared durable consumer.
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { startBatchRunner } from './runner.ts';
import { serveHealth } from '../../shared/runtime/health-port.ts';

const rt = await boot('batch', { needsDb: true });
const runner = await startBatchRunner({ config: rt.config, nats: rt.nats, db: rt.db!, log: rt.log, reload: rt.reload });
const health = rt.config.HEALTH_PORT ? await serveHealth(rt.config.HEALTH_PORT, rt.config.HOST, rt.readiness) : null;
onShutdown(
  rt.log,
  async () => {
    await runner.close();
    await rt.nats.nc.drain();
    await rt.db!.destroy();
    health?.close();
  },
  rt,
);
