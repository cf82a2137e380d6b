// nats.js writes to the socket once per microtask checkpoint: at load that is one write syscall per
// message, and socket writes were the largest CPU cost of the broker processes (ARCHITECTURE.md).
// This defers a connection's frames to the end of the current event-loop turn and writes them
// together. Order is kept (one queue per transport); ping/pong and connect use the same path.
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
