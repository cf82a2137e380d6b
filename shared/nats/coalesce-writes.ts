// nats.js writes to the socket once per microtask checkpoint: at load that is one write syscall per
// message, and socket writes were the largest CPU cost of the broker processes (ARCHITECTURE.md).
// This defers a connection's frames to the end of the current event-loop turn and writes them
// together. Order is kept (one queue per transport); ping/pong and connect use the same path.
// It patches NodeTransport.prototype.send, an internal of @nats-io/transport-node 3.4.0 that is not
// exported: test/unit/nats-coalesce-writes.test.ts fails, naming the version, if that changes.
// Measured 2026-12-03 (BENCH_DURATION=5 BENCH_PEERS= node bench/run.ts, NATS_COALESCE_WRITES=1 vs 0,
// two runs each on a shared 2-core machine, load average 5-7): nats-server CPU per request 100/102 us
// with it vs 254/215 us without; broker + nats-server CPU per request 1005/746 us vs 1080/923 us
// (7-19% less). Throughput was within the noise (725/952 vs 875/974 req/s at 64 connections).
// Kept for the CPU; re-measure on a quiet machine (and with bench/coalesce-writes.ts) before relying on it.
import { createRequire } from 'node:module';

interface TransportLike {
  send(frame: Uint8Array): void;
  coalesced?: Uint8Array[] | null;
}

let installed = false;

export function coalesceNatsWrites(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const { NodeTransport } = require('@nats-io/transport-node/lib/node_transport.js') as { NodeTransport: { prototype: TransportLike } };
  const send = NodeTransport.prototype.send;
  NodeTransport.prototype.send = function (this: TransportLike, frame: Uint8Array) {
    if (this.coalesced) {
      this.coalesced.push(frame);
      return;
    }
    this.coalesced = [frame];
    setImmediate(() => {
      const frames = this.coalesced!;
      this.coalesced = null;
      send.call(this, frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    });
  };
}
