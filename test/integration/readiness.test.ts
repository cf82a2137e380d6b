// Readiness of a service process: /readyz (the worker's HEALTH_PORT here) is 503 while the process's
// NATS connection is down and 200 again once it reconnects; /healthz stays 200 throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, type Nats } from '../../shared/nats/connection.ts';
import { Readiness } from '../../shared/runtime/readiness.ts';
import { serveHealth } from '../../shared/runtime/health-port.ts';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { freePort, waitFor } from '../harness/ports.ts';

let server: NatsServer;
let nats: Nats;

beforeAll(async () => {
  server = await startNatsServer();
  nats = await connectNats(server.url, 'readiness-test');
});
afterAll(async () => {
  await nats?.nc.close();
  await server?.stop();
});

describe('readiness', () => {
  it('503 while NATS is disconnected, 200 after the reconnect, 503 "draining" once draining', async () => {
    const readiness = new Readiness(nats.nc);
    const port = await freePort();
    const health = await serveHealth(port, '127.0.0.1', readiness);
    const probe = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, body: (await r.json()) as { status: string; nats?: boolean } };
    };
    try {
      expect(await probe('/readyz')).toEqual({ status: 200, body: { status: 'ready', nats: true } });

      server.kill();
      const down = await waitFor(async () => {
        const p = await probe('/readyz');
        return p.status === 503 ? p : undefined;
      });
      expect(down.body).toEqual({ status: 'unavailable', nats: false });
      expect((await probe('/healthz')).status).toBe(200);

      await server.start();
      await waitFor(async () => (await probe('/readyz')).status === 200, { what: 'ready after reconnect' });

      readiness.draining = true;
      expect(await probe('/readyz')).toEqual({ status: 503, body: { status: 'draining', nats: true } });
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      health.close();
    }
  });
});
