// Starts the embedded PGlite database in its own worker thread (./pglite-thread.ts) and hands back where
// its Postgres socket listens. One process at a time may own a data directory: two PGlite instances on
// the same files corrupt them, so a lock file beside the directory records the owner.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PgliteThreadData, PgliteThreadEvent } from './pglite-thread.ts';

// `.ts` when run from the sources, `.js` when run from JavaScript emitted by tsc.
const SOURCE_EXT = extname(fileURLToPath(import.meta.url));

/** The embedded store cannot be used; the message is one line that says what to do. */
export class EmbeddedDatabaseError extends Error {}

export interface EmbeddedPostgres {
  /** Directory holding the unix socket; `pg` takes it as `host`. */
  socketDir: string;
  port: number;
  stop(): Promise<void>;
}

const SOCKET_PORT = 5432;
const openInThisProcess = new Set<string>();

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dir = resolve(dataDir);
  mkdirSync(dirname(dir), { recursive: true });
  const lockPath = `${dir}.lock`;
  takeLock(dir, lockPath);
  // Unix socket paths are limited to ~100 bytes, so the socket lives in a short private temp dir.
  const socketDir = mkdtempSync(join(tmpdir(), 'switchyard-pg-'));
  const cleanup = () => {
    rmSync(socketDir, { recursive: true, force: true });
    rmSync(lockPath, { force: true });
    openInThisProcess.delete(dir);
  };
  const cannotOpen = (why: string) =>
    new EmbeddedDatabaseError(
      `embedded database in ${dataDir} cannot be opened (${why}): stop other Switchyard processes, or move the folder away to start fresh`,
    );
  let worker: Worker;
  try {
    if (!existsSync(join(dir, 'PG_VERSION'))) await createDatabase(dir, cannotOpen);
    worker = await runThread({ dataDir: dir, socketPath: join(socketDir, `.s.PGSQL.${SOCKET_PORT}`) }, cannotOpen);
  } catch (err) {
    cleanup();
    throw err;
  }
  let closedCleanly = false;

  worker.on('message', (event: PgliteThreadEvent) => {
    if (event.type === 'closed') closedCleanly = true;
    // One line, not PGlite's minified stack: queries now fail and say so themselves.
    if (event.type === 'backend-error') process.stderr.write(`switchyard: embedded database error: ${event.message}\n`);
  });
  worker.on('error', (err) => process.stderr.write(`switchyard: embedded database thread failed: ${errorLine(err)}\n`));

  let stopping: Promise<void> | null = null;
  return {
    socketDir,
    port: SOCKET_PORT,
    stop() {
      stopping ??= (async () => {
        const exited = new Promise<void>((done) => worker.once('exit', () => done()));
        worker.postMessage({ type: 'close' });
        // A clean close checkpoints; if it hangs, the WAL still makes the next open consistent.
        const timer = setTimeout(() => void worker.terminate(), 10_000);
        await exited;
        clearTimeout(timer);
        if (!closedCleanly) process.stderr.write('switchyard: embedded database did not close cleanly; it recovers on next open\n');
        cleanup();
      })();
      return stopping;
    },
  };
}

/**
 * First start: initdb into a sibling folder, then rename it into place, so a start killed halfway
 * (the first start is the slow one) leaves no half-made database behind, only a folder to sweep.
 * initdb runs in a child process (./pglite-initdb.ts), so the memory it leaves behind is not ours.
 */
async function createDatabase(dir: string, cannotOpen: (why: string) => Error): Promise<void> {
  const parent = dirname(dir);
  const prefix = `${basename(dir)}.initdb-`;
  for (const leftover of readdirSync(parent).filter((f) => f.startsWith(prefix)))
    rmSync(join(parent, leftover), { recursive: true, force: true });
  const fresh = join(parent, `${prefix}${process.pid}`);
  await new Promise<void>((done, fail) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(`./pglite-initdb${SOURCE_EXT}`, import.meta.url)), fresh], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let why = '';
    child.stderr.on('data', (d: Buffer) => (why = (why + d.toString()).slice(-2000)));
    child.once('error', (err) => fail(cannotOpen(err.message)));
    child.once('exit', (code, signal) =>
      code === 0 ? done() : fail(cannotOpen(why.trim().split('\n').pop() || `initdb exited with ${signal ?? code}`)),
    );
  });
  // A folder without PG_VERSION never finished initdb, so it holds no data; keep it aside, just in case.
  if (existsSync(dir)) {
    if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
    else renameSync(dir, `${dir}.incomplete-${Date.now()}`);
  }
  renameSync(fresh, dir);
}

/** Starts the database thread and waits until it serves. */
async function runThread(data: PgliteThreadData, cannotOpen: (why: string) => Error): Promise<Worker> {
  const worker = new Worker(new URL(`./pglite-thread${SOURCE_EXT}`, import.meta.url), { workerData: data });
  try {
    await new Promise<void>((done, fail) => {
      worker.on('message', (event: PgliteThreadEvent) => {
        if (event.type === 'ready') done();
        else if (event.type === 'failed') fail(cannotOpen(event.message));
      });
      worker.once('error', (err) => fail(cannotOpen(errorLine(err))));
      worker.once('exit', (code) => fail(cannotOpen(`database thread exited with code ${code}`)));
    });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  return worker;
}

/** Records this process as the directory's owner, taking over a lock whose process is gone. */
function takeLock(dir: string, lockPath: string): void {
  if (openInThisProcess.has(dir)) throw new EmbeddedDatabaseError(`embedded database in ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      openInThisProcess.add(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSync(lockPath, 'utf8').trim());
    if (owner && owner !== process.pid && processAlive(owner)) {
      throw new EmbeddedDatabaseError(
        `embedded database in ${dir} is in use by process ${owner}: stop that Switchyard process, or set SWITCHYARD_DATA_DIR to another folder`,
      );
    }
    // The owner was killed without cleaning up (SIGKILL, crash): its lock means nothing now.
    rmSync(lockPath, { force: true });
  }
  throw new EmbeddedDatabaseError(`embedded database in ${dir}: cannot take the lock ${lockPath}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The first line of what a worker thread threw (an Error, or any value: @types/node types it unknown). */
function errorLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
