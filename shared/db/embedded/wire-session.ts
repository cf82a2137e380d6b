// Serves one Postgres wire-protocol client connection from the single PGlite session. PGlite has exactly
// one backend, so connections take turns: a connection holds the turn from its first message until
// PGlite reports ReadyForQuery "idle" (not in a transaction), so neither an extended-protocol exchange
// (Parse..Sync) nor a transaction is ever interleaved with another connection's statements.
import type { Socket } from 'node:net';

/** What the session needs from PGlite: raw protocol in, raw protocol out. */
export interface RawBackend {
  execProtocolRawStream(message: Uint8Array, options: { onRawData: (chunk: Uint8Array) => void }): Promise<void>;
}

/**
 * PGlite's whole answer to `message`, copied out of its WASM memory as it comes. Not
 * `execProtocolRaw`: in PGlite 0.5.16 that also parses every answer and keeps each parsed message in a
 * list only `execProtocol` empties, so a session that speaks raw protocol only grows it forever (about
 * 55 bytes of heap per request at 300 req/s: bench/soak.ts, docs/benchmarks.md "Soak").
 */
export async function execRaw(backend: RawBackend, message: Uint8Array): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await backend.execProtocolRawStream(message, { onRawData: (chunk) => chunks.push(Buffer.from(chunk)) });
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;
const GSSENC_REQUEST_CODE = 80877104;
const SYNC = Uint8Array.of(0x53, 0, 0, 0, 4);

/** FIFO turn-taking over the one PGlite backend. */
export class BackendTurns {
  private held = false;
  private readonly waiting: Array<() => void> = [];

  async acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}

/** Transaction status of the last ReadyForQuery ('Z') in a backend response, or null when it has none. */
export function lastReadyStatus(response: Uint8Array): 'I' | 'T' | 'E' | null {
  let status: 'I' | 'T' | 'E' | null = null;
  let at = 0;
  while (at + 5 <= response.length) {
    const type = response[at]!;
    const len = ((response[at + 1]! << 24) | (response[at + 2]! << 16) | (response[at + 3]! << 8) | response[at + 4]!) >>> 0;
    if (type === 0x5a && len === 5 && at + 6 <= response.length) status = String.fromCharCode(response[at + 5]!) as 'I' | 'T' | 'E';
    at += 1 + len;
  }
  return status;
}

/** Splits the next complete frontend message off `buf`; startup-phase messages have no type byte. */
export function nextMessage(buf: Buffer, startup: boolean): { message: Buffer; rest: Buffer } | null {
  if (startup) {
    if (buf.length < 4) return null;
    const len = buf.readInt32BE(0);
    if (buf.length < len) return null;
    return { message: buf.subarray(0, len), rest: buf.subarray(len) };
  }
  if (buf.length < 5) return null;
  const len = 1 + buf.readInt32BE(1);
  if (buf.length < len) return null;
  return { message: buf.subarray(0, len), rest: buf.subarray(len) };
}

export function serveConnection(socket: Socket, backend: RawBackend, turns: BackendTurns, onBackendError: (err: Error) => void): void {
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  let startup = true;
  let holdingTurn = false;
  let lastStatus: 'I' | 'T' | 'E' = 'I';
  let draining = Promise.resolve();
  let closed = false;

  const run = async (message: Buffer): Promise<void> => {
    if (!holdingTurn) {
      await turns.acquire();
      holdingTurn = true;
    }
    const response = await execRaw(backend, message);
    if (response.length > 0 && !socket.destroyed) socket.write(response);
    const status = lastReadyStatus(response);
    if (status) lastStatus = status;
    // Idle outside a transaction: another connection may take its turn.
    if (status === 'I') {
      holdingTurn = false;
      turns.release();
    }
  };

  // A client that vanished mid-exchange must not leave PGlite inside its transaction or half a Parse..Sync.
  const abandon = async (): Promise<void> => {
    if (!holdingTurn) return;
    try {
      lastStatus = lastReadyStatus(await execRaw(backend, SYNC)) ?? lastStatus;
      if (lastStatus !== 'I') await execRaw(backend, simpleQuery('ROLLBACK'));
    } finally {
      holdingTurn = false;
      turns.release();
    }
  };

  const handle = async (): Promise<void> => {
    for (;;) {
      const next = nextMessage(buf, startup);
      if (!next) return;
      buf = next.rest;
      const { message } = next;
      if (startup && message.length === 8) {
        const code = message.readInt32BE(4);
        // No TLS on a local socket; the client then continues in plain text.
        if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
          socket.write('N');
          continue;
        }
      }
      if (startup && message.length === 16 && message.readInt32BE(4) === CANCEL_REQUEST_CODE) {
        socket.end();
        return;
      }
      // Terminate: the session is PGlite's only one, so it must not end with the client.
      if (!startup && message[0] === 0x58) {
        socket.end();
        return;
      }
      if (startup) {
        startup = false;
        await run(message);
        continue;
      }
      // Everything the client has sent so far (pg writes Parse..Sync at once) goes to PGlite in one call:
      // its per-call overhead, not the statement, dominated small queries.
      const batch = [message];
      let terminate = false;
      for (let more = nextMessage(buf, false); more; more = nextMessage(buf, false)) {
        buf = more.rest;
        if (more.message[0] === 0x58) {
          terminate = true;
          break;
        }
        batch.push(more.message);
      }
      await run(batch.length === 1 ? message : Buffer.concat(batch));
      if (terminate) {
        socket.end();
        return;
      }
    }
  };

  socket.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    draining = draining.then(handle).catch((err: Error) => {
      onBackendError(err);
      socket.destroy();
    });
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    if (closed) return;
    closed = true;
    draining = draining.then(abandon).catch(onBackendError);
  });
}

/** A simple-protocol Query message. */
export function simpleQuery(text: string): Uint8Array {
  const body = Buffer.from(`${text}\0`);
  const msg = Buffer.alloc(5 + body.length);
  msg[0] = 0x51;
  msg.writeInt32BE(4 + body.length, 1);
  body.copy(msg, 5);
  return msg;
}
