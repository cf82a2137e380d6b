import { defineConfig } from 'vitest/config';
import { wasmFlagsOf } from './test/harness/npm-scripts.ts';

// `npm run test:unit`: no servers, no nats-server or Postgres.
const UNIT = [
  'test/unit/**/*.test.ts',
  'test/providers/**/*.test.ts',
  'test/conformance/fixtures.test.ts',
  'test/conformance/capabilities-doc.test.ts',
];
// Scenarios that touch storage (usage, admin, files, batches, budgets, async, resume) run a second
// time on the embedded PGlite of `npm start`; e2e.test.ts narrows itself to a representative set of
// providers there. Postgres-only by nature: limits and cluster (several ingress processes), postgres-outage,
// fallback (no storage of its own), mock-sdks (no database).
const BOTH_BACKENDS = [
  'test/conformance/e2e.test.ts',
  'test/conformance/request-fields.test.ts',
  'test/conformance/response-fields.test.ts',
  'test/integration/openai-sdk.test.ts',
  'test/integration/local-answers.test.ts',
  'test/integration/anthropic-sdk.test.ts',
  'test/integration/admin.test.ts',
  'test/integration/pagination.test.ts',
  'test/integration/batch.test.ts',
  'test/integration/batch-faults.test.ts',
  'test/integration/batch-results-retention.test.ts',
  'test/integration/batch-guardrails.test.ts',
  'test/integration/batch-claim.test.ts',
  'test/integration/budgets.test.ts',
  'test/integration/ledger-insert.test.ts',
  'test/integration/ledger-messages.test.ts',
  'test/integration/query-timeout.test.ts',
  'test/integration/faults.test.ts',
  'test/integration/request-validation.test.ts',
  'test/integration/resume.test.ts',
  'test/integration/nats-restart.test.ts',
  'test/integration/usage-retention.test.ts',
  'test/integration/usage-direct.test.ts',
  'test/integration/prepared-statements.test.ts',
  'test/integration/websocket.test.ts',
  'test/integration/responses.test.ts',
  'test/integration/console.test.ts',
  'test/integration/console-api.test.ts',
  'test/integration/models.test.ts',
  'test/integration/response-cache.test.ts',
  'test/integration/completions.test.ts',
  'test/integration/tracing.test.ts',
  'test/integration/operator-metrics.test.ts',
  'test/integration/graceful.test.ts',
  'test/integration/content-guardrails.test.ts',
  'test/integration/guardrail-surfaces.test.ts',
  'test/integration/local-execution.test.ts',
  'test/integration/pglite-worker-flags.test.ts',
];

// The pglite project's workers open PGlite in-process: they run its WebAssembly with npm start's wasm
// flags (test/harness/npm-scripts.ts says why).
export const PGLITE_WORKER_FLAGS = wasmFlagsOf('start');

export default defineConfig({
  test: {
    // Integration files start their own nats-server and processes; on 2 cores, two at a time is the
    // sweet spot between wall time and timing-sensitive fault tests.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          exclude: UNIT,
          globalSetup: ['test/harness/global-setup.ts'],
          provide: { backend: 'postgres' },
        },
      },
      {
        extends: true,
        test: {
          name: 'pglite',
          include: BOTH_BACKENDS,
          globalSetup: ['test/harness/global-setup.ts'],
          provide: { backend: 'pglite' },
          execArgv: PGLITE_WORKER_FLAGS,
        },
      },
    ],
  },
});
