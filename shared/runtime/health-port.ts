// /healthz and /readyz for the services without an HTTP API (worker, ledger, batch), on HEALTH_PORT,
// so an orchestrator can probe them and stop routing work to a draining one.
import type { Server } from 'node:http';
import { createServer } from './node-http.ts';
import type { Readiness } from './readiness.ts';

export async function serveHealth(port: number, host: string, readiness: Readiness): Promise<Server> {
  const server = createServer((req, res) => {
    const json = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/healthz') return json(200, { status: 'ok' });
    if (req.url === '/readyz') {
      const ready = readiness.ready;
      return json(ready ? 200 : 503, { status: ready ? 'ready' : readiness.draining ? 'draining' : 'unavailable', nats: readiness.nats });
    }
    json(404, {
      error: { message: `Unknown request URL: ${req.method} ${req.url}.`, type: 'invalid_request_error', param: null, code: 'unknown_url' },
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
