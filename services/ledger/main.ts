// `npm run ledger`: usage stream -> Postgres. Several may run; JetStream spreads the messages.
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { startLedger } from './ledger.ts';
import { serveHealth } from '../../shared/runtime/health-port.ts';

const rt = await boot('ledger', { needsDb: true });
const ledger = await startLedger({ nats: rt.nats, db: rt.db!, log: rt.log });
const health = rt.config.HEALTH_PORT ? await serveHealth(rt.config.HEALTH_PORT, rt.config.HOST, rt.readiness) : null;
rt.log.info('ledger consuming');
onShutdown(
  rt.log,
  async () => {
    await ledger.close();
    await rt.nats.nc.drain();
    await rt.db!.destroy();
    health?.close();
  },
  rt,
);
