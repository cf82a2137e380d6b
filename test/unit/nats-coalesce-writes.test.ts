// shared/nats/coalesce-writes.ts patches NodeTransport.prototype.send, a nats.js internal that is not
// exported. These tests pin what the patch relies on, so a nats.js upgrade that moves or reshapes it
// fails here, by name, instead of silently losing the optimisation (or breaking every write).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { coalesceNatsWrites } from '../../shared/nats/coalesce-writes.ts';

const require = createRequire(import.meta.url);
// The version the patch was written and measured against (see the comment in coalesce-writes.ts).
const PATCHED_VERSION = '3.4.0';
const installed = (require('@nats-io/transport-node/package.json') as { version: string }).version;
const why = `shared/nats/coalesce-writes.ts patches an internal of @nats-io/transport-node ${PATCHED_VERSION}; installed is ${installed}`;

interface FakeTransport {
  send(frame: Uint8Array): void;
  _send(frame: Uint8Array): Promise<void>;
}

describe(`nats.js internals patched by coalesce-writes.ts (@nats-io/transport-node ${PATCHED_VERSION})`, () => {
  it('the installed nats.js is the version the patch was checked against', () => {
    expect(installed, `${why}: re-check this file's assumptions and re-measure (bench/coalesce-writes.ts), then bump PATCHED_VERSION`).toBe(
      PATCHED_VERSION,
    );
  });

  it('NodeTransport lives at lib/node_transport.js, and connect() builds it from there', () => {
    const mod = require('@nats-io/transport-node/lib/node_transport.js') as { NodeTransport?: { prototype: Record<string, unknown> } };
    expect(typeof mod.NodeTransport, `${why}: NodeTransport is gone from lib/node_transport.js`).toBe('function');
    expect(typeof mod.NodeTransport!.prototype.send, `${why}: NodeTransport.prototype.send is gone`).toBe('function');
    expect(typeof mod.NodeTransport!.prototype._send, `${why}: NodeTransport.prototype._send is gone`).toBe('function');
    const connectSource = String((require('@nats-io/transport-node/lib/connect.js') as { connect: unknown }).connect);
    expect(connectSource, `${why}: connect() no longer uses NodeTransport`).toContain('new node_transport_1.NodeTransport()');
  });

  it('the protocol writes every frame through transport.send()', () => {
    const corePath = require.resolve('@nats-io/nats-core/internal', { paths: [require.resolve('@nats-io/transport-node')] });
    const { ProtocolHandler } = require(corePath) as { ProtocolHandler: { prototype: { flushPending: unknown } } };
    expect(String(ProtocolHandler.prototype.flushPending), `${why}: flushPending() no longer writes with transport.send()`).toContain(
      'this.transport.send(',
    );
  });

  it('the patched send() hands the frames of one event-loop turn to the original send as one write, in order', async () => {
    coalesceNatsWrites();
    const { NodeTransport } = require('@nats-io/transport-node/lib/node_transport.js') as { NodeTransport: { prototype: object } };
    const writes: string[] = [];
    const transport = Object.create(NodeTransport.prototype) as FakeTransport;
    transport._send = (frame) => {
      writes.push(Buffer.from(frame).toString());
      return Promise.resolve();
    };
    const enc = new TextEncoder();
    transport.send(enc.encode('PUB a 1\r\nx\r\n'));
    transport.send(enc.encode('PUB b 1\r\ny\r\n'));
    transport.send(enc.encode('PING\r\n'));
    expect(writes, 'frames are deferred to the end of the turn').toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes, `${why}: the original send() no longer writes through _send()`).toEqual(['PUB a 1\r\nx\r\nPUB b 1\r\ny\r\nPING\r\n']);
    transport.send(enc.encode('PONG\r\n'));
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['PUB a 1\r\nx\r\nPUB b 1\r\ny\r\nPING\r\n', 'PONG\r\n']);
  });
});
