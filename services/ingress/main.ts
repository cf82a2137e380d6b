// `npm run ingress`: one HTTP edge process. Run as many as you like (PORT per process).
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { buildIngress } from './server.ts';

const rt = await boot('ingress', { needsDb: true });
const ingress = await buildIngress({ config: rt.config, nats: rt.nats, db: rt.db!, log: rt.log });
await ingress.app.listen({ port: rt.config.PORT, host: rt.config.HOST });
onShutdown(rt.log, async () => {
  await ingress.close();
  await rt.nats.nc.drain();
  await rt.db!.destroy();
});
