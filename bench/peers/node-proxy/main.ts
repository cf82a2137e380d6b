// A bare Node reverse proxy in front of an OpenAI-compatible upstream, the same request path as
// bench/peers/go-proxy/main.go: a bearer check, the body parsed and re-encoded with the model prefix
// stripped, the answer relayed as it arrives (SSE passes through). node:http in, undici out, nothing
// else: what any Node gateway costs at the least on this machine, so the distance from it to
// go-proxy is the runtime's and the distance from Switchyard to it is the durable path's.
//   node bench/peers/node-proxy/main.ts <port> <upstream base URL> <key> <upstream key>
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, upstream, key, upstreamKey] = process.argv.slice(2) as [string, string, string, string];
const base = new URL(upstream);
const pool = new Pool(base.origin, { connections: 256, keepAliveTimeout: 30_000 });
const prefix = base.pathname.replace(/\/$/, '');
const MAX_BODY = 8 << 20;

const server = createServer((req, res) => {
  if (req.headers.authorization !== `Bearer ${key}`) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"invalid key","type":"invalid_request_error","code":"invalid_api_key"}}');
    return;
  }
  const parts: Buffer[] = [];
  let size = 0;
  req.on('data', (b: Buffer) => {
    size += b.length;
    if (size > MAX_BODY) req.destroy();
    else parts.push(b);
  });
  req.on('end', () => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"body is not JSON","type":"invalid_request_error"}}');
      return;
    }
    if (typeof body.model === 'string' && body.model.includes('/')) body.model = body.model.slice(body.model.indexOf('/') + 1);
    pool
      .request({
        method: 'POST',
        path: prefix + (req.url ?? '/').replace(/^\/v1/, ''),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${upstreamKey}` },
        body: JSON.stringify(body),
      })
      .then(async (up) => {
        const contentType = up.headers['content-type'];
        res.writeHead(up.statusCode, typeof contentType === 'string' ? { 'content-type': contentType } : {});
        for await (const chunk of up.body) res.write(chunk);
        res.end();
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end();
      });
  });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(port), '127.0.0.1');
