// `npm run mock-providers`: the simulated upstreams on MOCK_PORT (default 9090).
import { createLogger } from '../../shared/telemetry/logger.ts';
import { exitOnUnexpectedError } from '../../shared/runtime/crash.ts';
import { defaultsFromEnv, startMockProviders } from './server.ts';

const log = createLogger('mock-providers');
exitOnUnexpectedError(log);
const mock = await startMockProviders({
  port: Number(process.env.MOCK_PORT ?? 9090),
  host: process.env.MOCK_HOST ?? '127.0.0.1',
  defaults: defaultsFromEnv(),
});
log.info({ url: mock.url }, `mock providers listening; OPENAI_BASE_URL=${mock.url}/v1`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void mock.close().finally(() => process.exit(0)));
