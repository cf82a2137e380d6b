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

export interface NatsCluster {
  /** Every node's client URL, comma separated: what NATS_URL takes. */
  url: string;
  nodes: NatsServer[];
  /** Resolves once JetStream has a meta leader (streams can be created). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `size` nats-servers on loopback routed to each other as one JetStream cluster, each with its own
 * store dir, so a test can SIGKILL one node and watch R3 streams carry on. Works with nats-server 2.9+.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const bin = findNatsServer();
  if (!bin) throw new Error('nats-server not found: apt-get install -y nats-server');
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
    monitorPorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const nodes: NatsServer[] = [];
  for (let i = 0; i < size; i++) {
    const port = clientPorts[i]!;
    const dir = mkdtempSync(join(tmpdir(), `sy-nats-c${i}-`));
    let proc: ChildProcess | null = null;
    const args = [
      '-c',
      NATS_LIMITS_CONF,
      '-js',
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '-m',
      String(monitorPorts[i]),
      '-sd',
      dir,
      '-n',
      `sy-node-${i}`,
      '--cluster_name',
      'sy-test',
      '--cluster',
      `nats://127.0.0.1:${routePorts[i]}`,
      '--routes',
      routes,
    ];
    const start = async () => {
      proc = spawn(bin, args, { stdio: 'ignore' });
      await waitFor(() => canConnect(port), { what: `nats-server node ${i} on ${port}` });
    };
    nodes.push({
      url: `nats://127.0.0.1:${port}`,
      port,
      start,
      pid: () => proc?.pid,
      kill() {
        proc?.kill('SIGKILL');
      },
      async stop() {
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          const exited = new Promise((r) => proc!.once('exit', r));
          proc.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    });
  }
  // All at once: a node waits for its routes before JetStream elects a meta leader.
  await Promise.all(nodes.map((n) => n.start()));
  return {
    url: nodes.map((n) => n.url).join(','),
    nodes,
    async ready() {
      // /jsz on any node names the meta leader once the cluster has agreed on one.
      await waitFor(
        async () => {
          for (const p of monitorPorts) {
            const jsz = (await fetch(`http://127.0.0.1:${p}/jsz`)
              .then((r) => r.json())
              .catch(() => null)) as { meta_cluster?: { leader?: string; cluster_size?: number } } | null;
            if (jsz?.meta_cluster?.leader && (jsz.meta_cluster.cluster_size ?? 0) >= size) return true;
          }
          return false;
        },
        // nats-server 2.9 on two cores shared with the rest of the suite once took over 30 s to elect it.
        { timeoutMs: 60_000, intervalMs: 200, what: 'JetStream meta leader' },
      );
    },
    async stop() {
      for (const n of nodes) await n.stop();
    },
  };
}
