// `npm run worker`: one worker process serving every provider (WORKER_PROVIDERS narrows it).
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { startWorker } from './worker.ts';

const rt = await boot('worker', { needsDb: false });
const providers = process.env.WORKER_PROVIDERS?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const worker = await startWorker({ config: rt.config, nats: rt.nats, log: rt.log, ...(providers ? { providers } : {}) });
onShutdown(rt.log, async () => {
  await worker.close();
  await rt.nats.nc.drain();
});
