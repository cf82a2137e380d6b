// The embedded default as `npm start` runs it (scripts/start.mjs: the services compiled to dist/,
// embedded PGlite; NATS_URL points it at the test's nats-server), on a machine
// with no keys at all: it listens on loopback only, makes a random bootstrap key once (printed once,
// kept 0600 under the data dir, the same key after a restart), says per provider where its answers
// come from, and marks simulated answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { freshMachineEnv, nodeFlagsOf } from '../harness/npm-scripts.ts';

let nats: NatsServer;
let dataDir: string;
let port: number;
const procs: ChildProcess[] = [];

function cleanEnv(): NodeJS.ProcessEnv {
  return { ...freshMachineEnv(), NATS_URL: nats.url, PORT: String(port), SWITCHYARD_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
}

async function start(): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(process.execPath, [...nodeFlagsOf('start'), 'scripts/start.mjs'], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  await waitFor(() => /switchyard listening/.test(out) || proc.exitCode !== null, { timeoutMs: 90_000, what: 'npm start' });
  if (proc.exitCode !== null) throw new Error(`scripts/start.mjs exited: ${out}`);
  return { proc, output: () => out };
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

function chat(key: string, model: string) {
  return fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] }),
  });
}

/** Whether `pid` runs: a zombie (an exited child of ours whose new parent has not reaped it yet) does not. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function canConnect(host: string, p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port: p });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

beforeAll(async () => {
  nats = await startNatsServer();
  dataDir = mkdtempSync(join(tmpdir(), 'sy-start-'));
  port = await freePort();
});
afterAll(async () => {
  for (const p of procs) await stop(p);
  await nats?.stop();
});

describe('npm start on a fresh machine', () => {
  it('prints a new random key once, keeps it 0600, and answers with it from the simulators, marked', async () => {
    const { proc, output } = await start();
    const printed = /created an API key for the default tenant \(kept in (\S+)\):\s+(sk-sy-\S+)/.exec(output());
    expect(printed, output()).not.toBeNull();
    const [, file, key] = printed!;
    expect(file).toBe(join(dataDir, 'bootstrap-key'));
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    expect(readFileSync(file!, 'utf8').trim()).toBe(key);
    // One line per provider says where its answers come from.
    for (const p of ['openai', 'anthropic', 'gemini', 'groq', 'xai'])
      expect(output()).toContain(`${p}: simulator (no ${p.toUpperCase()}_API_KEY)`);
    expect(output()).toContain('ollama: simulator (no OLLAMA_BASE_URL)');

    // The compiled copy, with what it reads beside its code (console files, package.json) found.
    expect(output()).toContain(`running ${join('dist', 'services', 'all', 'main.js')}`);
    expect((await fetch(`http://127.0.0.1:${port}/console/assets/uPlot.esm.js`)).status).toBe(200);
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    expect(((await (await fetch(`http://127.0.0.1:${port}/openapi.json`)).json()) as { info: { version: string } }).info.version).toBe(
      version,
    );

    const res = await chat(key!, 'openai/gpt-4o-mini');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-switchyard-simulated')).toBe('true');
    expect((await chat('sk-local', 'openai/gpt-4o-mini')).status).toBe(401); // no well-known key

    // Loopback only: the same port on any other local address refuses connections.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) expect(await canConnect(external.address, port)).toBe(false);
    expect(await canConnect('127.0.0.1', port)).toBe(true);

    await stop(proc);
    const again = await start();
    expect(again.output()).not.toContain(key!); // printed once, on the start that made it
    expect(again.output()).toContain('using the key kept in the file');
    expect((await chat(key!, 'anthropic/claude-sonnet-4-5')).headers.get('x-switchyard-simulated')).toBe('true');
    await stop(again.proc);
  });

  it('without NATS_URL runs its own nats-server with GOMAXPROCS=1, for exactly as long as it runs (started again if it dies), and stops cleanly on Ctrl-C', async () => {
    // A directory of its own (start.mjs keeps nats-server's store and pid file under ./.data), with
    // the nats limits file it reads beside it, as in the repository.
    const cwd = mkdtempSync(join(tmpdir(), 'sy-start-nats-'));
    symlinkSync(resolve('deploy'), join(cwd, 'deploy'));
    const env: NodeJS.ProcessEnv = { ...cleanEnv(), SWITCHYARD_DATA_DIR: join(cwd, 'data') };
    delete env.NATS_URL;
    delete env.GOMAXPROCS;
    // A process group of its own, as a terminal runs a job: Ctrl-C signals the whole group.
    const proc = spawn(process.execPath, [...nodeFlagsOf('start'), resolve('scripts/start.mjs')], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    procs.push(proc);
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    let pid = 0;
    try {
      await waitFor(() => /switchyard listening/.test(out) || proc.exitCode !== null, { timeoutMs: 90_000, what: 'npm start' });
      expect(out).toMatch(/nats-server \(JetStream\) on nats:\/\/127\.0\.0\.1:\d+, data in \.data\/nats/);
      pid = (JSON.parse(readFileSync(join(cwd, '.data', 'nats.pid'), 'utf8')) as { pid: number }).pid;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(environ).toContain('GOMAXPROCS=1');
      const key = /(sk-sy-\S+)/.exec(out)![1]!;
      expect((await chat(key, 'openai/gpt-4o-mini')).status).toBe(200);
      // A nats-server that dies is started again on the same port and data, and Switchyard answers again.
      const firstPid = pid;
      process.kill(firstPid, 'SIGKILL');
      pid = await waitFor(
        () => {
          const now = (JSON.parse(readFileSync(join(cwd, '.data', 'nats.pid'), 'utf8')) as { pid: number }).pid;
          return now !== firstPid && running(now) ? now : undefined;
        },
        { timeoutMs: 10_000, what: 'nats-server to be started again' },
      );
      expect(out).toMatch(/nats-server exited \(SIGKILL\); starting it again/);
      await waitFor(async () => ((await chat(key, 'openai/gpt-4o-mini')).status === 200 ? true : undefined), {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: 'an answer after the nats-server restart',
      });
      const atCtrlC = out.length;
      process.kill(-proc.pid!, 'SIGINT');
      expect(await exited).toBe(0);
      await waitFor(() => !running(pid), { timeoutMs: 10_000, what: 'nats-server to exit with Switchyard' });
      // nats-server is not in the terminal's group: it stops after the services drained, not under them.
      expect(out.slice(atCtrlC)).not.toMatch(/server shutdown|fetch failed|disconnected/i);
    } finally {
      proc.kill('SIGKILL');
      if (pid && running(pid)) process.kill(pid, 'SIGKILL'); // a failed run leaves no server behind
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
