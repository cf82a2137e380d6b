// The test harness's nats-server start: a server that cannot bind its port fails at once with its
// own words (NatsExitedEarly), which startNatsServer/startNatsCluster answer with fresh ports,
// instead of a silent 15 s timeout (seen once in the full suite: "timed out waiting for nats-server node 2").
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { findNatsServer, NatsExitedEarly, spawnNats, startNatsServer } from '../harness/nats-server.ts';

describe('test harness: nats-server start', () => {
  it('fails fast, quoting the server, when the port is taken', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    try {
      const t0 = Date.now();
      const err = await spawnNats(
        findNatsServer()!,
        ['-a', '127.0.0.1', '-p', String(port), '-n', 'sy-test-squatted'],
        port,
        'nats-server on a taken port',
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NatsExitedEarly);
      expect(String(err)).toMatch(/address already in use/i);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      squatter.close();
    }
  });

  it('still starts a server normally', async () => {
    const nats = await startNatsServer();
    try {
      expect(nats.pid()).toBeGreaterThan(0);
    } finally {
      await nats.stop();
    }
  });
});
