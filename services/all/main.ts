// `npm start`: every service in one process (the embedded default). It runs in development mode
// unless SWITCHYARD_MODE says otherwise: providers without a key answer from the built-in simulators
// (marked `x-switchyard-simulated: true`), the ingress listens on 127.0.0.1, and without
// BOOTSTRAP_API_KEY a random key is made once and kept in .data/bootstrap-key.
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { defaultsFromEnv, startMockProviders, type MockProviders } from '../mock-providers/server.ts';
import { buildIngress } from '../ingress/server.ts';
import { startWorker } from '../worker/worker.ts';
import { startLedger } from '../ledger/ledger.ts';
import { startBatchRunner } from '../batch/runner.ts';
import { devBootstrapKey, simulatorsNeeded } from './dev-defaults.ts';
import { localExecution } from '../../shared/runtime/local-execution.ts';
import { startRescuer } from './rescuer.ts';

const log = createLogger('switchyard');
process.env.SWITCHYARD_MODE ||= 'development';
const development = process.env.SWITCHYARD_MODE === 'development';
let mock: MockProviders | null = null;
if (!process.env.SIMULATOR_URL && simulatorsNeeded(process.env)) {
  // Loopback only: the simulators are for this process, not for the network.
  mock = await startMockProviders({ port: Number(process.env.MOCK_PORT ?? 0), host: '127.0.0.1', defaults: defaultsFromEnv() });
  process.env.SIMULATOR_URL = mock.url;
}
if (development && !process.env.BOOTSTRAP_API_KEY) {
  const dev = devBootstrapKey(process.env.SWITCHYARD_DATA_DIR || '.data');
  process.env.BOOTSTRAP_API_KEY = dev.key;
  if (dev.created) {
    // Printed once, on the start that made it; afterwards it is only in the file.
    process.stderr.write(`\n[switchyard] created an API key for the default tenant (kept in ${dev.path}):\n\n    ${dev.key}\n\n`);
  } else log.info({ file: dev.path }, 'BOOTSTRAP_API_KEY unset: using the key kept in the file');
}

const rt = await boot('switchyard', { needsDb: true, embeddedDb: true });
const db = rt.db!;
const ledger = await startLedger({ nats: rt.nats, db, log: rt.log.child({ service: 'ledger' }) });
// The worker inserts its usage rows through this process's ledger, not through LLM_USAGE (the ledger
// still stores what arrives there: another process's records, or a batch the direct insert missed).
// LOCAL_USAGE=0: through LLM_USAGE, as in a split layout.
const worker = await startWorker({
  config: rt.config,
  nats: rt.nats,
  log: rt.log.child({ service: 'worker' }),
  reload: rt.reload,
  usageStore: process.env.LOCAL_USAGE === '0' ? undefined : ledger,
});
// The ingress's interactive requests run in this worker as soon as they are stored (LOCAL_EXECUTION=0: off);
// the rescuer runs the held requests of instances that died, whether or not this one holds any.
const stopLocalExecution = localExecution.enable(rt.nats, worker.local);
const rescuer = startRescuer({
  nats: rt.nats,
  db,
  log: rt.log.child({ service: 'rescuer' }),
  ackWaitSeconds: rt.config.WORKER_ACK_WAIT_SECONDS,
});
const batch = await startBatchRunner({ config: rt.config, nats: rt.nats, db, log: rt.log.child({ service: 'batch' }), reload: rt.reload });
const ingress = await buildIngress({
  config: rt.config,
  nats: rt.nats,
  db,
  log: rt.log.child({ service: 'ingress' }),
  readiness: rt.readiness,
  reload: rt.reload,
});
await ingress.app.listen({ port: rt.config.PORT, host: rt.config.HOST });
log.info({ url: `http://${rt.config.HOST}:${rt.config.PORT}`, mode: rt.config.SWITCHYARD_MODE }, 'switchyard listening');
if (!rt.config.BOOTSTRAP_API_KEY)
  log.warn('BOOTSTRAP_API_KEY is not set: no API key exists yet, so every request gets 401. Set it to create a default tenant and key.');

onShutdown(
  rt.log,
  async () => {
    // The in-process worker keeps serving the ingress's in-flight requests until they have drained.
    if (!(await ingress.drain(rt.config.DRAIN_TIMEOUT_MS))) log.warn('drain timeout: closing the requests still in flight');
    await ingress.close();
    await batch.close();
    await worker.close();
    await stopLocalExecution();
    await rescuer.close();
    await ledger.close();
    await rt.nats.nc.drain();
    await db.destroy();
    await mock?.close();
  },
  rt,
);
