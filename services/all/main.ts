// `npm start`: every service in one process (the embedded default). With no provider key
// configured, the simulated providers start too and the providers point at them, so a first
// request answers out of the box.
import { PROVIDER_NAMES } from '../../shared/config/env.ts';
import { boot, onShutdown } from '../../shared/runtime/boot.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { defaultsFromEnv, startMockProviders, type MockProviders } from '../mock-providers/server.ts';
import { buildIngress } from '../ingress/server.ts';
import { startWorker } from '../worker/worker.ts';
import { startLedger } from '../ledger/ledger.ts';
import { startBatchRunner } from '../batch/runner.ts';

const log = createLogger('switchyard');
let mock: MockProviders | null = null;
const configured = PROVIDER_NAMES.filter((p) => process.env[`${p.toUpperCase()}_API_KEY`] || process.env[`${p.toUpperCase()}_BASE_URL`]);
if (configured.length === 0) {
  mock = await startMockProviders({ port: Number(process.env.MOCK_PORT ?? 0), defaults: defaultsFromEnv() });
  // Every provider family is simulated under its own prefix, in its own wire format.
  process.env.OPENAI_BASE_URL = `${mock.url}/v1`;
  process.env.ANTHROPIC_BASE_URL = `${mock.url}/anthropic`;
  process.env.GEMINI_BASE_URL = `${mock.url}/gemini/v1beta`;
  process.env.GROQ_BASE_URL = `${mock.url}/groq/openai/v1`;
  process.env.XAI_BASE_URL = `${mock.url}/xai/v1`;
  process.env.OLLAMA_BASE_URL = `${mock.url}/ollama`;
  // The simulators check that a key is sent, as the real APIs do.
  for (const p of ['OPENAI', 'ANTHROPIC', 'GEMINI', 'GROQ', 'XAI']) process.env[`${p}_API_KEY`] = 'mock-key';
  log.warn(
    { mock: mock.url },
    'no provider key configured: serving from the built-in mock providers (set OPENAI_API_KEY etc. for real upstreams)',
  );
}

const rt = await boot('switchyard', { needsDb: true, embeddedDb: true });
const db = rt.db!;
const ledger = await startLedger({ nats: rt.nats, db, log: rt.log.child({ service: 'ledger' }) });
const worker = await startWorker({ config: rt.config, nats: rt.nats, log: rt.log.child({ service: 'worker' }) });
const batch = await startBatchRunner({ config: rt.config, nats: rt.nats, db, log: rt.log.child({ service: 'batch' }) });
const ingress = await buildIngress({ config: rt.config, nats: rt.nats, db, log: rt.log.child({ service: 'ingress' }) });
await ingress.app.listen({ port: rt.config.PORT, host: rt.config.HOST });
if (!rt.config.BOOTSTRAP_API_KEY)
  log.warn('BOOTSTRAP_API_KEY is not set: no API key exists yet, so every request gets 401. Set it to create a default tenant and key.');

onShutdown(rt.log, async () => {
  await ingress.close();
  await batch.close();
  await worker.close();
  await ledger.close();
  await rt.nats.nc.drain();
  await db.destroy();
  await mock?.close();
});
