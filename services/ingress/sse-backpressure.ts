// Bounded memory per SSE client. Events arrive from NATS at the worker's pace whatever the client
// reads; written blindly, a client that never reads makes Node buffer the whole answer in the heap
// (5 such clients grew it by 33 MB). Every SSE write goes through writeSse(): what a stream may hold
// unsent is capped (SSE_MAX_BUFFERED_BYTES), and a socket that stays full past SSE_STUCK_TIMEOUT_MS
// is dropped. Dropping closes the response, so the route's close handler runs as for any vanished
// client: a resumable stream is detached (resume grace, then cancel), anything else is cancelled.
import type { ServerResponse } from 'node:http';
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../shared/telemetry/metrics.ts';

export interface SseLimits {
  maxBufferedBytes: number;
  stuckTimeoutMs: number;
}

interface StreamState {
  stuckTimer: NodeJS.Timeout | null;
  /** The socket whose 'drain' this stream listens to: the only one frames may be written to directly. */
  socket: ServerResponse['socket'];
  /** Whether Node wrote a frame of this response: only that is sure to have sent its head. */
  headSent: boolean;
  /** Its place in `open`. */
  index: number;
}

const states = new WeakMap<ServerResponse, StreamState>();
/**
 * Streams with a state, for the buffered-bytes gauge: fixed slots, a closed stream's taken by the
 * last one, the array never shrunk. Measured, not derived: in a Set (or an array that pop()s), with
 * thousands of streams a second coming and going, finished responses stayed alive for the
 * young-generation GC until the next full GC, so every SSE response and all it references was
 * promoted to the old generation: 17 MB/s at max load, which filled it in seconds instead of minutes
 * (docs/benchmarks.md, levers row "sseopen"; most likely the hash tables or backing stores a resize
 * leaves behind, which the scavenger still reads).
 */
const open: Array<ServerResponse | undefined> = [];
/** How many of `open`'s slots hold a stream. */
let openCount = 0;

const slowClients = new Counter({
  name: 'switchyard_sse_slow_clients_total',
  help: 'SSE streams ended because the client did not read (buffer over SSE_MAX_BUFFERED_BYTES or stuck past SSE_STUCK_TIMEOUT_MS)',
  labelNames: ['reason'] as const,
  registers: [registry],
});
new Gauge({
  name: 'switchyard_sse_buffered_bytes',
  help: 'Bytes written to SSE streams of this ingress and not yet taken by their clients',
  registers: [registry],
  collect() {
    let sum = 0;
    for (let i = 0; i < openCount; i++) sum += open[i]!.writableLength;
    this.set(sum);
  },
});

/**
 * Writes one SSE frame; false when the stream is gone or was just dropped for a client that does
 * not read. Frames are never partly lost: a frame is either queued whole or the stream ends.
 */
export function writeSse(res: ServerResponse, frame: string, limits: SseLimits): boolean {
  if (res.destroyed || res.writableEnded) return false;
  const state = stateOf(res);
  const flowing = writeFrame(res, state, frame);
  if (res.writableLength > limits.maxBufferedBytes) {
    drop(res, state, 'buffer_full');
    return false;
  }
  if (!flowing && !state.stuckTimer) {
    state.stuckTimer = setTimeout(() => {
      state.stuckTimer = null;
      if (res.writableNeedDrain || res.socket?.writableNeedDrain) drop(res, state, 'stuck');
    }, limits.stuckTimeoutMs);
    state.stuckTimer.unref();
  }
  return true;
}

/**
 * Once the headers are out, a frame goes to the socket as one HTTP chunk framed here: `res.write()`
 * corks the socket, queues a tick to uncork it and hands it four pieces (size line, CRLF, frame,
 * CRLF) for one writev, about 3 µs more per frame, and a stream paced like a model writes a frame
 * per token (docs/benchmarks.md, "ssewrite"). Node frames it whenever that is not plainly the same:
 * the first frame (`headersSent` turns true at writeHead(), before the head is on the wire; Node
 * sends it with the first write), no chunked encoding (an HTTP/1.0 client), no socket of its own yet (a
 * pipelined response waiting its turn) or bytes of this response still in Node's own buffer.
 */
function writeFrame(res: ServerResponse, state: StreamState, frame: string): boolean {
  // An empty frame framed by hand would be the zero-length chunk that ends the body; Node skips it.
  if (frame.length === 0) return res.write(frame);
  const socket = res.socket;
  if (!state.headSent || !socket || socket !== state.socket || !res.chunkedEncoding || res.writableLength !== socket.writableLength) {
    state.headSent = true;
    return res.write(frame);
  }
  return socket.write(`${Buffer.byteLength(frame).toString(16)}\r\n${frame}\r\n`);
}

function stateOf(res: ServerResponse): StreamState {
  const state = states.get(res);
  if (state) return state;
  const created: StreamState = { stuckTimer: null, socket: res.socket, headSent: false, index: openCount };
  states.set(res, created);
  open[openCount++] = res;
  const drained = () => {
    if (created.stuckTimer) clearTimeout(created.stuckTimer);
    created.stuckTimer = null;
  };
  // Frames written to the socket directly (writeFrame) make the socket, not the response, emit 'drain'.
  const socket = created.socket;
  res.on('drain', drained);
  socket?.on('drain', drained);
  res.once('close', () => {
    if (created.stuckTimer) clearTimeout(created.stuckTimer);
    socket?.off('drain', drained);
    forget(res, created);
  });
  return created;
}

/** Takes a closed stream out of `open`: the last one moves into its slot. */
function forget(res: ServerResponse, state: StreamState): void {
  const last = open[--openCount]!;
  open[openCount] = undefined;
  if (last === res) return;
  open[state.index] = last;
  states.get(last)!.index = state.index;
}

function drop(res: ServerResponse, state: StreamState, reason: 'buffer_full' | 'stuck'): void {
  if (state.stuckTimer) clearTimeout(state.stuckTimer);
  state.stuckTimer = null;
  slowClients.inc({ reason });
  // destroy, not end: end() would queue behind what the client is not reading.
  res.destroy();
}
