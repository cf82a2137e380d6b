// A whole Switchyard for one test file: its own nats-server, its own database, the mock upstream,
// and ingress/worker/ledger either in-process or as child processes (which tests can SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { boot, type Runtime } from '../../shared/runtime/boot.ts';
import type { Db } from '../../shared/db/database.ts';
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

export interface StackOptions {
  /** In-process services to run; default all three. Use spawn() for processes a test will kill. */
  ingress?: boolean;
  worker?: boolean;
  ledger?: boolean;
  /** In-process batch runner (services/batch); default off. */
  batch?: boolean;
  env?: Record<string, string>;
  /** A Postgres server (admin URL) of the test's own, e.g. one it will stop and restart. */
  postgresUrl?: string;
  mockDefaults?: Partial<MockScript>;
  /** Provider base URLs and keys that point at the mock, which only exists once the stack starts. */
  providerEnv?: (mockUrl: string) => Record<string, string>;
}

export interface ChildService {
  proc: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface Stack {
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
  spawn(service: 'ingress' | 'worker' | 'ledger' | 'batch', extraEnv?: Record<string, string>): Promise<ChildService>;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const natsServer = inject('natsUrl') ? null : await startNatsServer();
  const natsUrl = natsServer?.url ?? inject('natsUrl')!;
  const dbName = `sy_${randomBytes(5).toString('hex')}`;
  const databaseUrl = await createDatabase(opts.postgresUrl ?? inject('databaseUrl'), dbName);
  const mock = await startMockProviders({ defaults: opts.mockDefaults ?? {} });
  const apiKey = `sk-test-${randomBytes(8).toString('hex')}`;
  const port = await freePort();
  const env: Record<string, string> = {
    NATS_URL: natsUrl,
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: `${mock.url}/v1`,
    OPENAI_API_KEY: 'sk-upstream-test',
    BOOTSTRAP_API_KEY: apiKey,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
    ...opts.providerEnv?.(mock.url),
    ...opts.env,
  };
  const runtime = await boot('test', { needsDb: true, env: { ...process.env, ...env } });
  if (!natsServer) {
    // Shared NATS given from outside: start from empty streams.
    for (const s of Object.values(STREAMS)) await runtime.nats.jsm.streams.purge(s).catch(() => {});
  }
  const db = runtime.db!;
  const children: ChildService[] = [];
  const ledger = opts.ledger === false ? null : await startLedger({ nats: runtime.nats, db, log: runtime.log });
  const worker = opts.worker === false ? null : await startWorker({ config: runtime.config, nats: runtime.nats, log: runtime.log });
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
    async spawn(service, extraEnv = {}) {
      const proc = spawn(process.execPath, [`services/${service}/main.ts`], {
        env: { ...process.env, ...env, LOG_LEVEL: 'info', ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      const child: ChildService = {
        proc,
        output: () => out,
        async kill(signal = 'SIGKILL') {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          const exited = new Promise((r) => proc.once('exit', r));
          proc.kill(signal);
          await exited;
        },
      };
      children.push(child);
      if (service === 'ingress') {
        const p = extraEnv.PORT ?? env.PORT;
        await waitFor(async () => (await fetch(`http://127.0.0.1:${p}/healthz`)).ok, { what: `ingress child: ${out}` });
      } else {
        await waitFor(() => /consuming/.test(out) || proc.exitCode !== null, { what: `${service} child` });
        if (proc.exitCode !== null) throw new Error(`${service} exited: ${out}`);
      }
      return child;
    },
    async close() {
      for (const c of children) await c.kill();
      await ingress?.close();
      await batch?.close();
      await worker?.close();
      await ledger?.close();
      await runtime.nats.nc.close();
      await db.destroy();
      await mock.close();
      await natsServer?.stop();
    },
  };
  return stack;
}

/** Waits until the usage row of `requestId` exists and returns it. */
export async function waitForUsageRow(db: Db, requestId: string, timeoutMs = 15_000) {
  return waitFor(() => db.selectFrom('usage').selectAll().where('request_id', '=', requestId).executeTakeFirst(), {
    timeoutMs,
    what: `usage row ${requestId}`,
  });
}
