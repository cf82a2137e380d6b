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
}

const states = new WeakMap<ServerResponse, StreamState>();
/** Streams with a state, for the buffered-bytes gauge (removed on close). */
const open = new Set<ServerResponse>();

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
    for (const res of open) sum += res.writableLength;
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
  const flowing = res.write(frame);
  if (res.writableLength > limits.maxBufferedBytes) {
    drop(res, state, 'buffer_full');
    return false;
  }
  if (!flowing && !state.stuckTimer) {
    state.stuckTimer = setTimeout(() => {
      state.stuckTimer = null;
      if (res.writableNeedDrain) drop(res, state, 'stuck');
    }, limits.stuckTimeoutMs);
    state.stuckTimer.unref();
  }
  return true;
}

function stateOf(res: ServerResponse): StreamState {
  const state = states.get(res);
  if (state) return state;
  const created: StreamState = { stuckTimer: null };
  states.set(res, created);
  open.add(res);
  res.on('drain', () => {
    if (created.stuckTimer) clearTimeout(created.stuckTimer);
    created.stuckTimer = null;
  });
  res.once('close', () => {
    if (created.stuckTimer) clearTimeout(created.stuckTimer);
    open.delete(res);
  });
  return created;
}

function drop(res: ServerResponse, state: StreamState, reason: 'buffer_full' | 'stuck'): void {
  if (state.stuckTimer) clearTimeout(state.stuckTimer);
  state.stuckTimer = null;
  slowClients.inc({ reason });
  // destroy, not end: end() would queue behind what the client is not reading.
  res.destroy();
}
