// Vitest global setup: one throwaway Postgres cluster per project that needs one (each test file
// makes its own database in it; the pglite project's files open embedded databases instead). NATS servers are per test file (see stack.ts) so fault tests can kill their own.
// Given TEST_DATABASE_URL / NATS_URL, those are used instead. Where neither the binaries nor the
// env are there but a Docker engine answers, testcontainers provides them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../shared/db/database.ts';
import { findPostgresBin, startPostgres, type PostgresCluster } from './postgres.ts';
import { findNatsServer } from './nats-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    natsUrl: string | null;
    /** Storage of the stacks of this project's files (test/harness/stack.ts). */
    backend: 'postgres' | 'pglite';
    /** A migrated, empty PGlite data dir that pglite stacks copy (pglite project only). */
    pgliteTemplate: string | null;
  }
}

function dockerAnswers(): boolean {
  return spawnSync('docker', ['info'], { timeout: 5_000, stdio: 'ignore' }).status === 0;
}

export default async function setup(project: TestProject) {
  const stops: Array<() => Promise<void>> = [];
  let databaseUrl = process.env.TEST_DATABASE_URL;
  let natsUrl = process.env.NATS_URL ?? null;

  let pgliteTemplate: string | null = null;
  if (project.config.provide?.backend === 'pglite') {
    // initdb and the migrations in WASM take 5-15 s per database; pay them once, stacks copy the result.
    const dir = mkdtempSync(join(tmpdir(), 'sy-pglite-template-'));
    stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    pgliteTemplate = join(dir, 'pglite');
    await (await openDatabase({ embeddedDir: pgliteTemplate })).destroy();
  }
  if (!databaseUrl && pgliteTemplate) {
    databaseUrl = 'postgres://unused-by-the-pglite-project/';
  } else if (!databaseUrl) {
    if (findPostgresBin()) {
      const pgc: PostgresCluster = await startPostgres();
      stops.push(() => pgc.destroy());
      databaseUrl = pgc.url;
    } else if (dockerAnswers()) {
      const { PostgreSqlContainer } = await importPostgresContainer();
      const c = await new PostgreSqlContainer('postgres:16-alpine').start();
      stops.push(async () => void (await c.stop()));
      databaseUrl = c.getConnectionUri();
    } else {
      throw new Error('No Postgres for tests: apt-get install -y postgresql, or set TEST_DATABASE_URL, or provide a Docker engine.');
    }
  }
  if (!natsUrl && !findNatsServer()) {
    if (dockerAnswers()) {
      const { GenericContainer, Wait } = await import('testcontainers');
      const c = await new GenericContainer('nats:2.10')
        .withCommand(['-js'])
        .withExposedPorts(4222)
        .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
        .start();
      stops.push(async () => void (await c.stop()));
      natsUrl = `nats://${c.getHost()}:${c.getMappedPort(4222)}`;
    } else {
      throw new Error('No nats-server for tests: apt-get install -y nats-server, or set NATS_URL, or provide a Docker engine.');
    }
  }
  project.provide('databaseUrl', databaseUrl);
  project.provide('natsUrl', natsUrl);
  project.provide('pgliteTemplate', pgliteTemplate);
  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
}

async function importPostgresContainer(): Promise<{
  PostgreSqlContainer: new (image: string) => { start(): Promise<{ stop(): Promise<unknown>; getConnectionUri(): string }> };
}> {
  // @testcontainers/postgresql is optional; fall back to a generic container.
  const { GenericContainer, Wait } = await import('testcontainers');
  class PostgreSqlContainer {
    private readonly image: string;
    constructor(image: string) {
      this.image = image;
    }
    async start() {
      const c = await new GenericContainer(this.image)
        .withEnvironment({ POSTGRES_PASSWORD: 'switchyard', POSTGRES_USER: 'switchyard', POSTGRES_DB: 'postgres' })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .start();
      return {
        stop: () => c.stop(),
        getConnectionUri: () => `postgres://switchyard:switchyard@${c.getHost()}:${c.getMappedPort(5432)}/postgres`,
      };
    }
  }
  return { PostgreSqlContainer };
}
