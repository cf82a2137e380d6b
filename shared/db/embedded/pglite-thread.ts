// Worker-thread entry: owns the embedded PGlite database and serves it as a Postgres server on a unix
// socket, so PGlite's WASM work never runs on the event loop that serves requests, and the rest of
// Switchyard talks to it with the same `pg` driver (and the same types: bytea as Buffer) as real Postgres.
//
// Durability policy: PGlite runs Postgres with fsync off (-F). Every statement's writes reach the OS
// (write(2)) before its result is sent, so a row whose statement was answered survives the process being
// killed (SIGKILL, OOM, crash) and Postgres' WAL replay repairs the rest on the next open. A power loss or
// kernel crash can lose recent commits; that is the price of the zero-setup default. Production uses
// DATABASE_URL (real Postgres, fsync on).
import { createServer, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { BackendTurns, serveConnection } from './wire-session.ts';

export interface PgliteThreadData {
  dataDir: string;
  /** Where to serve the Postgres wire protocol. */
  socketPath: string;
}

export type PgliteThreadEvent =
  { type: 'ready' } | { type: 'failed'; message: string } | { type: 'closed' } | { type: 'backend-error'; message: string };

const { dataDir, socketPath } = workerData as PgliteThreadData;
const port = parentPort!;
const post = (event: PgliteThreadEvent) => port.postMessage(event);

// PGlite's default 128 MB of shared buffers is most of its resident memory; the embedded default's
// working set (keys, tenants, usage appends, batch files streamed through) fits in a few MB, and the OS
// page cache holds the rest of the files (measured: npm start idle RSS 405 -> 287 MB at 16 MB, 257 ->
// 244 MB from 16 to 4 MB).
const startParams = [...PGlite.defaultStartParams, '-c', 'shared_buffers=4MB'];

// Postgres' own log lines, kept (not printed) so a failed open can say why in one line.
const lastLog: string[] = [];
const keepLog = (text: string) => {
  lastLog.push(text.trim());
  if (lastLog.length > 5) lastLog.shift();
  return true;
};

let db: PGlite;
try {
  db = await PGlite.create({ dataDir, startParams, onStderr: keepLog, onStdout: keepLog });
} catch (err) {
  const why = (err as Error).message?.split('\n')[0] ?? String(err);
  const detail = lastLog.filter((l) => /FATAL|PANIC|ERROR/.test(l)).pop();
  post({ type: 'failed', message: detail ? `${why}; ${detail}` : why });
  process.exit(1);
}

const turns = new BackendTurns();
const sockets = new Set<Socket>();
const server = createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  serveConnection(socket, db, turns, (err) => post({ type: 'backend-error', message: err.message }));
});
server.listen(socketPath, () => post({ type: 'ready' }));

port.on('message', (msg: { type: string }) => {
  if (msg.type !== 'close') return;
  server.close();
  for (const s of sockets) s.destroy();
  // Wait for the statement in flight, then shut Postgres down cleanly (checkpoint), so the next open
  // needs no WAL replay.
  void turns
    .acquire()
    .then(() => db.close())
    .catch(() => {})
    .finally(() => {
      post({ type: 'closed' });
      process.exit(0);
    });
});
