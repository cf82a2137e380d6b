// `npm run worker`: one worker process serving every provider (WORKER_PROVIDERS narrows it).
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { startWorker } from './worker.ts';
import { serveHealth } from '../../shared/runtime/health-port.ts';

const rt = await boot('worker', { needsDb: false });
const providers = process.env.WORKER_PROVIDERS?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const worker = await startWorker({ config: rt.config, nats: rt.nats, log: rt.log, reload: rt.reload, ...(providers ? { providers } : {}) });
const health = rt.config.HEALTH_PORT ? await serveHealth(rt.config.HEALTH_PORT, rt.config.HOST, rt.readiness) : null;
onShutdown(
  rt.log,
  async () => {
    // Stops pulling at once; requests in flight get DRAIN_TIMEOUT_MS, the rest is redelivered elsewhere.
    await worker.close();
    await rt.nats.nc.drain();
    health?.close();
  },
  rt,
);
