// `npm run ledger`: usage stream -> Postgres. Several may run; JetStream spreads the messages.
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { startLedger } from './ledger.ts';

const rt = await boot('ledger', { needsDb: true });
const ledger = await startLedger({ nats: rt.nats, db: rt.db!, log: rt.log });
rt.log.info('ledger consuming');
onShutdown(rt.log, async () => {
  await ledger.close();
  await rt.nats.nc.drain();
  await rt.db!.destroy();
});
