// A whole Switchyard for one test file: its own nats-server, its own database, the mock upstream,
// and ingress/worker/ledger either in-process or as child processes (which tests can SIGKILL).
// The database is Postgres or the embedded PGlite of `npm start`, chosen by the vitest project
// (vitest.config.ts provides `backend`) or by `backend` in the options.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { boot, type Runtime } from '../../shared/runtime/boot.ts';
import { openDatabase, type Db } from '../../shared/db/database.ts';
import { connectNats } from '../../shared/nats/connection.ts';
import { buildIngress, type Ingress } from '../../services/ingress/server.ts';
import { startWorker, type Worker } from '../../services/worker/worker.ts';
import { startLedger, type Ledger } from '../../services/ledger/ledger.ts';
import { startBatchRunner, type BatchRunner } from '../../services/batch/runner.ts';
import { startMockProviders, type MockProviders } from '../../services/mock-providers/server.ts';
import type { MockScript } from '../../services/mock-providers/script.ts';
import { STREAMS } from '../../shared/nats/topology.ts';
import { createDatabase } from './postgres.ts';
import { startNatsServer, type NatsServer } from './nats-server.ts';
import { freePort, waitFor } from './ports.ts';
import { allInOneArgs } from './npm-scripts.ts';

export type Backend = 'postgres' | 'pglite';
export const BACKENDS: readonly Backend[] = ['postgres', 'pglite'];

/** The backend of this test file's vitest project; Postgres when run outside a project. */
export function currentBackend(): Backend {
  return inject('backend') ?? 'postgres';
}

export interface StackOptions {
  /** Storage: a fresh Postgres database, or an embedded PGlite in a temp dir owned by this process. */
  backend?: Backend;
  /** In-process services to run; default all three. Use spawn() for processes a test will kill. */
  ingress?: boolean;
  worker?: boolean;
  ledger?: boolean;
  /** The worker inserts its usage through the ledger, as npm start's one process does (LOCAL_USAGE). */
  localUsage?: boolean;
  /** In-process batch runner (services/batch); default off. */
  batch?: boolean;
  env?: Record<string, string>;
  /** A Postgres server (admin URL) of the test's own, e.g. one it will stop and restart. */
  postgresUrl?: string;
  mockDefaults?: Partial<MockScript>;
  /** Provider base URLs and keys that point at the mock, which only exists once the stack starts. */
  providerEnv?: (mockUrl: string) => Record<string, string>;
  /** NATS server(s) of the test's own, e.g. a cluster (harness/nats-server.ts startNatsCluster): NATS_URL. */
  natsUrl?: string;
}

export interface ChildService {
  proc: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** An extra in-process ingress with its own NATS connection and key cache, as another process has. */
export interface ExtraIngress {
  url: string;
  close(): Promise<void>;
}

export interface AllInOneService extends ChildService {
  url: string;
  /** SWITCHYARD_DATA_DIR of the process; its PGlite lives in `<dataDir>/pglite`. */
  dataDir: string;
}

export interface Stack {
  backend: Backend;
  url: string;
  apiKey: string;
  env: Record<string, string>;
  db: Db;
  mock: MockProviders;
  natsServer: NatsServer | null;
  runtime: Runtime;
  ingress: Ingress | null;
  worker: Worker | null;
  ledger: Ledger | null;
  batch: BatchRunner | null;
  /** A service as a child process. On PGlite only the worker can run apart: it needs no database. */
  spawn(service: 'ingress' | 'worker' | 'ledger' | 'batch', extraEnv?: Record<string, string>): Promise<ChildService>;
  /** Another ingress in this process, on the stack's database (works on both backends). */
  startIngress(opts?: { port?: number }): Promise<ExtraIngress>;
  /**
   * `services/all/main.ts` (what `npm start` runs) as a child process on the harness' NATS and mock,
   * with its own embedded PGlite in `dataDir` (default: one dir per stack, seeded from the run's migrated
   * template, so a restart reuses it).
   */
  spawnAllInOne(opts?: { dataDir?: string; env?: Record<string, string> }): Promise<AllInOneService>;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const natsServer = opts.natsUrl || inject('natsUrl') ? null : await startNatsServer();
  const natsUrl = opts.natsUrl ?? natsServer?.url ?? inject('natsUrl')!;
  const backend = opts.backend ?? currentBackend();
  const tmpDirs: string[] = [];
  const tempDir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    tmpDirs.push(d);
    return d;
  };
  /** A data dir whose PGlite starts as the run's migrated template (global-setup.ts), if there is one. */
  const pgliteDataDir = (prefix: string) => {
    const d = tempDir(prefix);
    const template = inject('pgliteTemplate');
    if (template) cpSync(template, join(d, 'pglite'), { recursive: true });
    return d;
  };
  const storageEnv: Record<string, string> =
    backend === 'postgres'
      ? { DATABASE_URL: await createDatabase(opts.postgresUrl ?? inject('databaseUrl'), `sy_${randomBytes(5).toString('hex')}`) }
      : { SWITCHYARD_DATA_DIR: pgliteDataDir('sy-pglite-') };
  const mock = await startMockProviders({ defaults: opts.mockDefaults ?? {} });
  const apiKey = `sk-test-${randomBytes(8).toString('hex')}`;
  const port = await freePort();
  const env: Record<string, string> = {
    NATS_URL: natsUrl,
    ...storageEnv,
    OPENAI_BASE_URL: `${mock.url}/v1`,
    OPENAI_API_KEY: 'sk-upstream-test',
    BOOTSTRAP_API_KEY: apiKey,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
    // A closing stack waits no longer than it did before drains were configurable.
    DRAIN_TIMEOUT_MS: '10000',
    ...opts.providerEnv?.(mock.url),
    ...opts.env,
  };
  const bootEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (backend === 'pglite') delete bootEnv.DATABASE_URL;
  // embeddedDb: this process owns the PGlite database, as the all-in-one process of `npm start` does.
  const runtime = await boot('test', { needsDb: true, embeddedDb: backend === 'pglite', env: bootEnv });
  if (!natsServer && !opts.natsUrl) {
    // Shared NATS given from outside: start from empty streams.
    for (const s of Object.values(STREAMS)) await runtime.nats.jsm.streams.purge(s).catch(() => {});
  }
  const db = runtime.db!;
  const children: ChildService[] = [];
  const extraIngresses: ExtraIngress[] = [];
  let allInOneDir: string | null = null;
  const ledger = opts.ledger === false ? null : await startLedger({ nats: runtime.nats, db, log: runtime.log });
  const worker =
    opts.worker === false
      ? null
      : await startWorker({
          config: runtime.config,
          nats: runtime.nats,
          log: runtime.log,
          usageStore: opts.localUsage && ledger ? ledger : undefined,
        });
  const batch = opts.batch ? await startBatchRunner({ config: runtime.config, nats: runtime.nats, db, log: runtime.log }) : null;
  let ingress: Ingress | null = null;
  if (opts.ingress !== false) {
    ingress = await buildIngress({ config: runtime.config, nats: runtime.nats, db, log: runtime.log });
    await ingress.app.listen({ port, host: '127.0.0.1' });
  }

  const stack: Stack = {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    env,
    db,
    mock,
    natsServer,
    runtime,
    ingress,
    worker,
    ledger,
    batch,
    backend,
    async spawn(service, extraEnv = {}) {
      if (backend === 'pglite' && service !== 'worker') {
        throw new Error(
          `spawn('${service}') needs a database shared between processes; the embedded PGlite belongs to this process. ` +
            'Use startIngress() or spawnAllInOne() on pglite.',
        );
      }
      const child = spawnChild([`services/${service}/main.ts`], { ...process.env, ...env, LOG_LEVEL: 'info', ...extraEnv });
      const { proc } = child;
      const out = () => child.output();
      children.push(child);
      if (service === 'ingress') {
        const p = extraEnv.PORT ?? env.PORT;
        await waitFor(async () => (await fetch(`http://127.0.0.1:${p}/healthz`)).ok, { what: `ingress child: ${out()}` });
      } else {
        await waitFor(() => /consuming/.test(out()) || proc.exitCode !== null, { what: `${service} child` });
        if (proc.exitCode !== null) throw new Error(`${service} exited: ${out()}`);
      }
      return child;
    },
    async startIngress({ port = 0 } = {}) {
      const nats = await connectNats(natsUrl, `switchyard-test-ingress-${extraIngresses.length + 1}`);
      const extra = await buildIngress({ config: runtime.config, nats, db, log: runtime.log });
      const address = await extra.app.listen({ port, host: '127.0.0.1' });
      const handle: ExtraIngress = {
        url: address,
        async close() {
          await extra.close();
          await nats.nc.close();
        },
      };
      extraIngresses.push(handle);
      return handle;
    },
    async spawnAllInOne({ dataDir, env: extraEnv = {} } = {}) {
      dataDir ??= allInOneDir ??= pgliteDataDir('sy-all-in-one-');
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, LOG_LEVEL: 'info', SWITCHYARD_DATA_DIR: dataDir, ...extraEnv };
      // No DATABASE_URL: the all-in-one process opens its embedded PGlite, as `npm start` does.
      delete childEnv.DATABASE_URL;
      const child = spawnChild(allInOneArgs(), childEnv);
      children.push(child);
      const url = `http://127.0.0.1:${childEnv.PORT}`;
      await waitFor(async () => child.proc.exitCode === null && (await fetch(`${url}/healthz`)).ok, {
        timeoutMs: 30_000,
        what: `all-in-one process: ${child.output()}`,
      });
      return { ...child, url, dataDir };
    },
    async close() {
      for (const c of children) await c.kill();
      for (const i of extraIngresses) await i.close();
      await ingress?.close();
      await batch?.close();
      await worker?.close();
      await ledger?.close();
      await runtime.nats.nc.close();
      await db.destroy();
      await mock.close();
      await natsServer?.stop();
      for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
    },
  };
  return stack;
}

function spawnChild(args: string[], env: NodeJS.ProcessEnv): ChildService {
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return {
    proc,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
  };
}

/** Opens the embedded PGlite an all-in-one process left in `dataDir` (only once that process has exited). */
export function openEmbeddedDatabase(dataDir: string): Promise<Db> {
  return openDatabase({ embeddedDir: join(dataDir, 'pglite') });
}

/** Waits until the usage row of `requestId` exists and returns it. */
export async function waitForUsageRow(db: Db, requestId: string, timeoutMs = 15_000) {
  return waitFor(() => db.selectFrom('usage').selectAll().where('request_id', '=', requestId).executeTakeFirst(), {
    timeoutMs,
    what: `usage row ${requestId}`,
  });
}
