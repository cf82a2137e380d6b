// `npm run ingress`: one HTTP edge process. Run as many as you like (PORT per process).
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { buildIngress } from './server.ts';

const rt = await boot('ingress', { needsDb: true });
const ingress = await buildIngress({
  config: rt.config,
  nats: rt.nats,
  db: rt.db!,
  log: rt.log,
  readiness: rt.readiness,
  reload: rt.reload,
});
await ingress.app.listen({ port: rt.config.PORT, host: rt.config.HOST });
onShutdown(
  rt.log,
  async () => {
    // /readyz is 503 already; in-flight requests (long streams too) finish before the server closes.
    if (!(await ingress.drain(rt.config.DRAIN_TIMEOUT_MS))) rt.log.warn('drain timeout: closing the requests still in flight');
    await ingress.close();
    await rt.nats.nc.drain();
    await rt.db!.destroy();
  },
  rt,
);
