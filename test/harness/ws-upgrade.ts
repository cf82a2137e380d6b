// A raw WebSocket upgrade request, for tests that read what the server answers to the handshake itself
// (status, headers, the body of a refused upgrade) rather than talk over an open socket.
import { randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

export interface UpgradeAnswer {
  /** 101 when the upgrade was accepted. */
  status: number;
  headers: IncomingHttpHeaders;
  /** The body of a refused upgrade ('' when accepted). */
  body: string;
  /** The upgraded socket, or null when refused. Destroy it when done, unless `keepSocket` was false. */
  socket: Socket | null;
}

export function rawUpgrade(baseUrl: string, headers: Record<string, string>, opts: { keepSocket?: boolean } = {}): Promise<UpgradeAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path: '/v1/ws',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      if (!opts.keepSocket) socket.destroy();
      resolve({ status: res.statusCode!, headers: res.headers, body: '', socket: opts.keepSocket ? socket : null });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, socket: null }));
    });
    req.on('error', reject);
    req.end();
  });
}
