// What every service process does at start: config, logger, NATS topology, database, bootstrap key.
import { join } from 'node:path';
import { loadConfig, type SwitchyardConfig } from '../config/env.ts';
import { connectNats, type Nats } from '../nats/connection.ts';
import { moveLegacyResults } from '../nats/legacy-results.ts';
import { ensureTopology, removeDrainedOwnersBucket, REQUEST_OWNERS_BUCKET, topologyDrift, type TopologyOptions } from '../nats/topology.ts';
import { keepTopology } from '../nats/topology-keeper.ts';
import { loadConfigFile } from '../config/file.ts';
import { applyProviderPlan } from '../config/providers.ts';
import { ensureLimitBuckets } from '../limits/kv.ts';
import { openDatabase, type Db } from '../db/database.ts';
import { EmbeddedDatabaseError } from '../db/embedded/embedded-postgres.ts';
import { ensureBootstrapKey } from '../db/api-keys.ts';
import { adapterNames, envPrefixOf } from '../providers/registry.ts';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { registerSecrets, registerUpstreamSecrets } from '../telemetry/secrets.ts';
import { exitOnUnexpectedError } from './crash.ts';
import { startTracing, stopTracing } from '../telemetry/tracing.ts';
import { knownModelNames, modelLabels } from '../telemetry/model-labels.ts';
import { ConfigReload } from './config-reload.ts';
import { Readiness } from './readiness.ts';
import type { FileConfig } from '../config/file.ts';

export interface Runtime {
  config: SwitchyardConfig;
  log: Logger;
  nats: Nats;
  db: Db | null;
  /** Draining and NATS state, for /readyz. */
  readiness: Readiness;
  /** SIGHUP config reload; modules deriving state from the config file register with it. */
  reload: ConfigReload;
}

export async function boot(
  service: string,
  opts: { needsDb: boolean; env?: NodeJS.ProcessEnv; /** only `npm start`: PGlite allows one process */ embeddedDb?: boolean },
): Promise<Runtime> {
  const config = loadConfig(opts.env);
  if (opts.needsDb && !config.DATABASE_URL && !opts.embeddedDb) {
    // The embedded PGlite database belongs to one process; services running side by side must share Postgres.
    throw new Error(
      `${service}: DATABASE_URL is not set. Separate services share one Postgres; use \`npm start\` for the embedded all-in-one default.`,
    );
  }
  // Aliases, upstream keys and prices; a broken file stops the process here, with line and column.
  config.file = loadConfigFile(undefined, opts.env ?? process.env);
  for (const [name, p] of Object.entries(config.file?.providers ?? {})) {
    // A config-declared provider (`type: openai-compatible`) gets its endpoint here; built-ins have one from the env.
    if (!Object.hasOwn(config.providers, name))
      config.providers[name] = { name, baseUrl: '', apiKey: (opts.env ?? process.env)[`${envPrefixOf(name)}_API_KEY`] || undefined };
    const endpoint = config.providers[name]!;
    if (p.base_url) endpoint.baseUrl = p.base_url;
    // The worker balances over every key (services/worker/upstream-keys.ts); the first one stands for
    // the provider wherever one key is enough (is it configured at all?).
    if (p.api_keys[0]) endpoint.apiKey = p.api_keys[0].key;
  }
  // Real upstream, simulator (development only) or not configured: decided per provider, said per provider.
  const providerPlan = applyProviderPlan(config, opts.env ?? process.env);
  modelLabels.configure(knownModelNames(config));
  // Before the first log line: the logger scrubs these from everything it writes.
  registerUpstreamSecrets(config);
  registerSecrets([config.ADMIN_API_KEY, config.BOOTSTRAP_API_KEY]);
  const log = createLogger(service, config.LOG_LEVEL);
  if (await startTracing(service)) log.info('OpenTelemetry tracing on (OTLP exporter from the OTEL_* environment)');
  for (const note of config.file?.skipped ?? []) log.info(note);
  for (const p of providerPlan) log.info({ provider: p.provider, upstream: p.status }, p.line);
  // The database opens while NATS connects: starting the embedded PGlite is the slow part of `npm start`.
  let dbOpening: Promise<Db> | null = null;
  if (opts.needsDb) {
    if (!config.DATABASE_URL) log.info({ dir: join(config.SWITCHYARD_DATA_DIR, 'pglite') }, 'DATABASE_URL unset: using embedded PGlite');
    dbOpening = openDatabase({
      url: config.DATABASE_URL,
      embeddedDir: join(config.SWITCHYARD_DATA_DIR, 'pglite'),
      preparedStatements: config.DATABASE_PREPARED_STATEMENTS === '1',
    }).catch((err: Error) => {
      // One line that says what to do, not PGlite's stack and minified source.
      if (!(err instanceof EmbeddedDatabaseError)) throw err;
      process.stderr.write(`${service}: ${err.message}\n`);
      process.exit(1);
    });
    // Awaited below; a NATS failure first must not turn this into an unhandled rejection.
    dbOpening.catch(() => {});
  }
  const nats = await connectNats(config.NATS_URL, `switchyard-${service}`).catch((err: Error) => {
    throw new Error(
      `cannot reach NATS at ${config.NATS_URL}: ${err.message}. Start nats-server with JetStream (nats-server -js) or set NATS_URL.`,
    );
  });
  const topology: TopologyOptions = {
    providers: adapterNames(config.file),
    ackWaitSeconds: config.WORKER_ACK_WAIT_SECONDS,
    maxDeliver: config.WORKER_MAX_DELIVER,
    ledgerAckWaitSeconds: config.LEDGER_ACK_WAIT_SECONDS,
    eventsMaxAgeSeconds: config.EVENTS_MAX_AGE_SECONDS,
    eventsMaxBytes: config.EVENTS_MAX_BYTES,
    eventsStorage: config.EVENTS_STORAGE,
    requestStorage: config.NATS_REQUEST_STORAGE,
    cancelsMaxAgeSeconds: Math.max(900, Math.ceil(config.REQUEST_TIMEOUT_MS / 1000)),
    replicas: config.NATS_STREAM_REPLICAS,
  };
  // Every stream, consumer and bucket any service uses, so that any process can put all of it back.
  const ensure = async () => {
    await ensureTopology(nats.jsm, topology);
    await ensureLimitBuckets(nats.nc, config.NATS_STREAM_REPLICAS);
  };
  await ensure();
  await warnOfTopologyDrift(nats, topology, log);
  // Not part of readiness: in a cluster every process reconnects at once when a node dies, and its
  // setup may wait out the streams' leader elections; /readyz failing on every ingress together
  // would take them all out of their load balancer for that time.
  keepTopology(nats.nc, ensure, log);
  // In the background: results an old runner had taken but not acked come back only after its ack wait.
  void moveLegacyResults(nats.js, nats.jsm, log).catch((err: Error) =>
    log.error({ err: err.message }, 'moving results from an earlier version to LLM_RESULTS failed; the next start tries again'),
  );
  void removeDrainedOwnersBucket(nats.jsm).then(
    (removed) => removed && log.info({ stream: `KV_${REQUEST_OWNERS_BUCKET}` }, 'removed the empty owners bucket of an earlier version'),
    (err: Error) => log.warn({ err: err.message }, 'could not check for the owners bucket of an earlier version'),
  );
  const readiness = new Readiness(nats.nc);
  let db: Db | null = null;
  if (dbOpening) {
    db = await dbOpening;
    if (config.BOOTSTRAP_API_KEY) await ensureBootstrapKey(db, config.BOOTSTRAP_API_KEY);
  }
  const env = opts.env ?? process.env;
  const reload = new ConfigReload(() => loadConfigFile(undefined, env), log);
  reload.register(configFileHook(config, log));
  return { config, log, nats, db, readiness, reload };
}

/**
 * Swaps `config.file`, which aliases are resolved from on every request. The set of providers is
 * fixed at start (it decides the streams' consumers and the workers' pulls): a file that changes it
 * is refused. Upstream keys and base URLs are read once at start, so their changes wait for a restart.
 */
function configFileHook(config: SwitchyardConfig, log: Logger) {
  return {
    name: 'config file',
    prepare(next: FileConfig | null) {
      const before = adapterNames(config.file).join(',');
      const after = adapterNames(next).join(',');
      if (before !== after) throw new Error(`the providers changed (${before} -> ${after}); restart the service to apply that`);
      return () => {
        if (JSON.stringify(config.file?.providers ?? {}) !== JSON.stringify(next?.providers ?? {}))
          log.warn('config reload: changes to providers (upstream keys, base URLs) take effect at the next restart');
        config.file = next;
        // Metric labels follow the models the new file names (aliases, targets, prices).
        modelLabels.configure(knownModelNames(config));
      };
    },
  };
}

/**
 * Runs `close` once on SIGINT/SIGTERM, then exits 0; exits with 1 on an unhandled rejection or exception.
 * With the runtime: /readyz turns 503 at the signal (before `close` starts draining), `close` gets
 * DRAIN_TIMEOUT_MS plus a margin before the process is forced out, and SIGHUP reloads the config file.
 */
export function onShutdown(log: Logger, close: () => Promise<void>, runtime?: Pick<Runtime, 'readiness' | 'reload' | 'config'>): void {
  exitOnUnexpectedError(log);
  let closing = false;
  if (runtime) process.on('SIGHUP', () => void runtime.reload.reload());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      if (closing) return;
      closing = true;
      if (runtime) runtime.readiness.draining = true;
      log.info({ sig, drainTimeoutMs: runtime?.config.DRAIN_TIMEOUT_MS }, 'shutting down');
      // Twice the drain: the all-in-one process drains its ingress, then its worker, each up to DRAIN_TIMEOUT_MS.
      const force = setTimeout(() => process.exit(1), 2 * (runtime?.config.DRAIN_TIMEOUT_MS ?? 0) + 15_000);
      force.unref();
      close()
        .catch((err) => log.error({ err }, 'error during shutdown'))
        .finally(() => stopTracing().finally(() => process.exit(0)));
    });
  }
}

/**
 * A stream's storage, and on nats-server 2.9 its retention, are fixed when it is created: one made
 * by an earlier version (or with other settings) keeps them until it is recreated. Say so once, with how.
 */
async function warnOfTopologyDrift(nats: Nats, topology: TopologyOptions, log: Logger): Promise<void> {
  const drift = await topologyDrift(nats.jsm, topology);
  if (drift.length === 0) return;
  log.warn(
    { streams: drift },
    'some streams keep the storage or retention they were created with; they get the wanted one when recreated ' +
      '(with Switchyard stopped and its queues empty: `nats stream rm <name>`), a memory-stored one when nats-server restarts, ' +
      'and a limits-retention LLM_USAGE on nats-server 2.10 or later at the next start',
  );
}
