// `npm run batch`: one batch runner process. Run as many as you like: batches are leased one runner
// at a time, and results are collected by a shared durable consumer.
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { startBatchRunner } from './runner.ts';

const rt = await boot('batch', { needsDb: true });
const runner = await startBatchRunner({ config: rt.config, nats: rt.nats, db: rt.db!, log: rt.log });
onShutdown(rt.log, async () => {
  await runner.close();
  await rt.nats.nc.drain();
  await rt.db!.destroy();
});
