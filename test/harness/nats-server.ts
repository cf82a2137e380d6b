// A throwaway nats-server with JetStream on a free port, which a test can kill and restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from './ports.ts';
import { embeddedNatsEnv, findNatsServer } from '../../scripts/ensure-services.mjs';

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

// NATS_SERVER_BIN, .data/bin, then PATH: the binary `npm start` would run (scripts/ensure-services.mjs).
export { findNatsServer };

/**
 * `env`: extra environment for the server (benchmarks vary Go's GOGC / GOMEMLIMIT / GOMAXPROCS) over
 * `npm start`'s; `args`: extra command-line flags (bench/nats-memory.ts adds monitoring and profiling ports).
 */
export async function startNatsServer(opts: { bin?: string; env?: Record<string, string>; args?: string[] } = {}): Promise<NatsServer> {
  const bin = opts.bin ?? findNatsServer();
  if (!bin)
    throw new Error('nats-server not found: apt-get install -y nats-server (or run `npm start` once, which installs it under .data/bin)');
  const dir = mkdtempSync(join(tmpdir(), 'sy-nats-'));
  // Named, so the harness can tell this server from whatever else answers on its port (spawnNats).
  const name = `sy-test-${randomBytes(4).toString('hex')}`;
  let port = 0;
  let proc: ChildProcess | null = null;
  // The same limits as `npm start` (max_payload: the largest request body, docs/security.md).
  const start = async () => {
    const args = ['-c', NATS_LIMITS_CONF, '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir, '-n', name, ...(opts.args ?? [])];
    proc = await spawnNats(bin, args, port, `nats-server on ${port}`, { ...embeddedNatsEnv(), ...opts.env });
  };
  // A free port can be taken by another test process before nats-server binds it: pick another.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (err) {
      if (!(err instanceof NatsExitedEarly) || attempt >= 3) throw err;
    }
  }
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

/** nats-server exited before it accepted connections (e.g. its port was taken); `output` is its last words. */
export class NatsExitedEarly extends Error {}

/**
 * Spawns nats-server and resolves once `port` accepts connections. Rejects with NatsExitedEarly, quoting
 * the server's last output, if it exits first, instead of waiting out the timeout and saying nothing.
 */
export async function spawnNats(bin: string, args: string[], port: number, what: string, env?: NodeJS.ProcessEnv): Promise<ChildProcess> {
  // Ready means this server answers: a port taken by another process can accept connections too.
  const name = args[args.indexOf('-n') + 1];
  if (!args.includes('-n') || !name) throw new Error('spawnNats: give the server a unique name (-n)');
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  let output = '';
  const keep = (d: Buffer) => void (output = (output + d.toString()).slice(-2_000));
  // Read to the end, always: a full pipe would block the server.
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let ready = false;
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code, signal) => {
      if (!ready)
        reject(
          new NatsExitedEarly(
            `${what}: exited (${signal ?? code}) before accepting connections: ${output.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
    }),
  );
  exited.catch(() => {}); // only awaited below; a later exit (a test killing the node) is not an error
  try {
    await Promise.race([waitFor(async () => (await serverNameAt(port)) === name, { what }), exited]);
  } catch (err) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    throw err;
  }
  ready = true;
  return proc;
}

/** The `server_name` in the INFO line a NATS server sends on connect; null for anything else. */
function serverNameAt(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let buf = '';
    const done = (v: string | null) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1_000, () => done(null));
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      const end = buf.indexOf('\r\n');
      if (end < 0) return;
      const line = buf.slice(0, end);
      try {
        done(line.startsWith('INFO ') ? ((JSON.parse(line.slice(5)) as { server_name?: string }).server_name ?? null) : null);
      } catch {
        done(null);
      }
    });
    s.once('error', () => done(null));
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
  // Nine ports are picked before any node binds one: another test process can take one meanwhile,
  // and the node that needed it exits. Then the whole cluster starts again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size);
    } catch (err) {
      if (!(err instanceof NatsExitedEarly) || attempt >= 3) throw err;
    }
  }
}

async function startNatsClusterOnce(size: number): Promise<NatsCluster> {
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
  const tag = randomBytes(3).toString('hex');
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
      `sy-node-${i}-${tag}`,
      '--cluster_name',
      'sy-test',
      '--cluster',
      `nats://127.0.0.1:${routePorts[i]}`,
      '--routes',
      routes,
    ];
    const start = async () => {
      proc = await spawnNats(bin, args, port, `nats-server node ${i} on ${port}`);
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
  const started = await Promise.allSettled(nodes.map((n) => n.start()));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const n of nodes) await n.stop().catch(() => {});
    throw failed.reason;
  }
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
