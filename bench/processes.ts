// What every benchmark does with its child processes: start services, read their RSS and CPU time
// from /proc, and kill them all at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startNatsServer, type NatsServer } from '../test/harness/nats-server.ts';
import { createDatabase, startPostgres } from '../test/harness/postgres.ts';
import { freePort } from '../test/harness/ports.ts';

export interface Backends {
  nats: NatsServer;
  databaseUrl: string;
  /** Root of the mock upstream (OpenAI family under /v1). */
  mockUrl: string;
}

export class ProcessGroup {
  readonly children: ChildProcess[] = [];
  readonly cleanups: Array<() => Promise<void> | void> = [];

  /** Runs a service entry point on this Node; stderr is passed through so failures show. */
  run(script: string, env: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
    const p = spawn(process.execPath, [...nodeArgs, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    this.children.push(p);
    return p;
  }

  /** Throwaway nats-server and Postgres database, and the mock upstream in its own process. */
  async startBackends(dbName: string): Promise<Backends> {
    const nats = await startNatsServer();
    this.cleanups.push(() => nats.stop());
    const pgc = await startPostgres();
    this.cleanups.push(() => pgc.destroy());
    const databaseUrl = await createDatabase(pgc.url, dbName);
    const mockPort = await freePort();
    this.run('services/mock-providers/main.ts', { MOCK_PORT: String(mockPort), LOG_LEVEL: 'warn' });
    return { nats, databaseUrl, mockUrl: `http://127.0.0.1:${mockPort}` };
  }

  async stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const c of this.children) c.kill(signal);
    for (const c of this.cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  }
}

export function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** user+system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
