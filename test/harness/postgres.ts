// A throwaway Postgres cluster on a free port, run as an unprivileged user (Postgres refuses root).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, waitFor } from './ports.ts';
import { findPostgresBin } from '../../scripts/ensure-services.mjs';

export interface PostgresCluster {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
  createDatabase(name: string): Promise<string>;
  /** The postmaster's pid while it runs (its backends are its children), from postmaster.pid. */
  pid(): number | undefined;
}

// Found the way `npm start` and `npm test` find them (scripts/ensure-services.mjs).
export { findPostgresBin };

const isRoot = process.getuid?.() === 0;

function run(bin: string, args: string[]): void {
  // As root, run the server binaries as the `postgres` user (created by Debian's package) or `nobody`.
  const user = spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody';
  const [cmd, argv] = isRoot ? ['runuser', ['-u', user, '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv as string[], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('Postgres server binaries not found: apt-get install -y postgresql (or set TEST_DATABASE_URL)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sy-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'switchyard', '--no-sync', '-E', 'UTF8']);
  const url = `postgres://switchyard@127.0.0.1:${port}/postgres`;
  const start = async () => {
    // fsync=off survives a server crash (the OS keeps the pages). synchronous_commit stays on: off,
    // a crash-stop loses commits the ledger has already acked to JetStream.
    run(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`,
      'start',
    ]);
    await waitFor(
      async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.end();
        return true;
      },
      { what: 'postgres' },
    );
  };
  await start();
  return {
    url,
    port,
    start,
    async stop() {
      run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    async destroy() {
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
    createDatabase: (name) => createDatabase(url, name),
    pid() {
      try {
        return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`create database "${name}"`);
  } finally {
    await c.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
