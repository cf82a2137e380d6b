// A throwaway nats-server with JetStream on a free port, which a test can kill and restart.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from './ports.ts';

export interface NatsServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  kill(): void;
  start(): Promise<void>;
  /** Process id of the running server (for CPU accounting in benchmarks). */
  pid(): number | undefined;
}

const NATS_LIMITS_CONF = resolve('deploy/nats-limits.conf');

export function findNatsServer(): string | null {
  // NATS_SERVER_BIN picks a build explicitly (benchmarks compare server versions side by side).
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  const local = resolve('.data/bin/nats-server');
  if (existsSync(local)) return local;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

export async function startNatsServer(opts: { bin?: string } = {}): Promise<NatsServer> {
  const bin = opts.bin ?? findNatsServer();
  if (!bin)
    throw new Error('nats-server not found: apt-get install -y nats-server (or run `npm start` once, which installs it under .data/bin)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sy-nats-'));
  let proc: ChildProcess | null = null;
  const start = async () => {
    // The same limits as `npm start` (max_payload: the largest request body, docs/security.md).
    proc = spawn(bin, ['-c', NATS_LIMITS_CONF, '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: 'ignore' });
    await waitFor(() => canConnect(port), { what: `nats-server on ${port}` });
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    start,
    pid: () => proc?.pid,
    kill() {
      proc?.kill('SIGKILL');
    },
    async stop() {
      if (proc && proc.exitCode === null) {
        const exited = new Promise((r) => proc!.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
