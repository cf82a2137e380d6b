// `npm start`: the embedded default. Starts a local nats-server with JetStream (data under .data/)
// unless NATS_URL is set, then runs every Switchyard service in this process. Postgres comes from
// DATABASE_URL, or an embedded PGlite under .data/ when unset.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { embeddedNatsEnv, ensureNatsServer } from './ensure-services.mjs';

const env = { ...process.env };
let nats = null;
/** Set once Switchyard is on its way out: its nats-server is not started again after that. */
let stopping = false;

function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A nats-server of ours that outlived its Switchyard (kill -9 reaches only this process) is adopted,
// not doubled: a second server on the same store directory would fight the first over it.
const NATS_PID_FILE = '.data/nats.pid';
function adoptNatsServer() {
  try {
    const { pid, port } = JSON.parse(readFileSync(NATS_PID_FILE, 'utf8'));
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('nats-server') || !cmdline.includes('.data/nats')) return null;
    return { pid, port, kill: (sig) => process.kill(pid, sig) };
  } catch {
    return null;
  }
}

if (!env.NATS_URL) {
  const adopted = adoptNatsServer();
  if (adopted) {
    nats = adopted;
    env.NATS_URL = `nats://127.0.0.1:${adopted.port}`;
    console.error(`[switchyard] nats-server (JetStream) still running on ${env.NATS_URL} (pid ${adopted.pid}): reusing it`);
  } else {
    const bin = ensureNatsServer();
    mkdirSync('.data/nats', { recursive: true });
    let port = 4222;
    while (!(await portFree(port))) port++;
    const log = openSync('.data/nats.log', 'a');
    // deploy/nats-limits.conf raises max_payload, the largest request body (docs/security.md).
    const conf = 'deploy/nats-limits.conf';
    const spawnNats = () => {
      // A process group of its own: Ctrl-C in a terminal signals the whole foreground group, and
      // nats-server must outlive the services' drain (stopped on exit, below), not close under it.
      const child = spawn(bin, ['-c', conf, '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', '.data/nats'], {
        env: embeddedNatsEnv(),
        stdio: ['ignore', log, log],
        detached: true,
      });
      writeFileSync(NATS_PID_FILE, JSON.stringify({ pid: child.pid, port }));
      const startedAt = Date.now();
      // Supervised: a nats-server that dies (a crash, an OOM kill) is started again on the same port
      // and data, and the services put back what it lost (shared/nats/topology-keeper.ts).
      child.once('exit', (code, signal) => {
        if (stopping) return;
        // Pause longer while it keeps dying at once (e.g. its port was taken meanwhile).
        restartPauseMs = Date.now() - startedAt > 30_000 ? 250 : Math.min(restartPauseMs * 2, 5_000);
        console.error(`[switchyard] nats-server exited (${signal ?? code}); starting it again in ${restartPauseMs} ms`);
        setTimeout(() => {
          if (!stopping) nats = spawnNats();
        }, restartPauseMs).unref();
      });
      return child;
    };
    let restartPauseMs = 125;
    nats = spawnNats();
    env.NATS_URL = `nats://127.0.0.1:${port}`;
    console.error(`[switchyard] nats-server (JetStream) on ${env.NATS_URL}, data in .data/nats (log: .data/nats.log)`);
    // Give it a moment to open its port; the services retry their connection anyway.
    for (let i = 0; i < 50 && (await portFree(port)); i++) await new Promise((r) => setTimeout(r, 100));
  }
}

// The services run in this process (a second Node process cost ~50 MB idle); the V8 flags they need
// come from the `npm start` script in package.json.
process.env.NATS_URL = env.NATS_URL;
// nats-server lives exactly as long as Switchyard does.
process.on('exit', () => {
  stopping = true;
  if (!nats) return;
  nats.kill('SIGTERM');
  rmSync(NATS_PID_FILE, { force: true });
});
// Until the services install their graceful shutdown (after boot), a signal just ends the process.
// (SIGHUP is the services' config reload, not an exit.)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (process.listenerCount(sig) === 1) process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}
// dist/: the services compiled to JavaScript (scripts/build.mjs; rebuilt here when a source changed),
// which keeps Node's TypeScript parser out of the process.
const { entryPoint } = await import('./build.mjs');
const entry = await entryPoint('all');
console.error(`[switchyard] running ${relative(process.cwd(), fileURLToPath(entry))}`);
await import(entry);
