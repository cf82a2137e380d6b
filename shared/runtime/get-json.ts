// A small GET that answers parsed JSON, over node:http / node:https, for the few control-plane calls
// a service makes on its own (the providers' model lists). Why not the global fetch(): its first call
// loads Node's own copy of undici, which the broker otherwise never needs (shared/runtime/node-http.ts).
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from './node-http.ts';

export class HttpGetError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'HttpGetError';
    this.status = status;
  }
}

export interface GetJsonOptions {
  headers?: Record<string, string>;
  /** Bound on the whole call, connection to last byte. */
  timeoutMs: number;
  /** Longest body read before the call fails (a list, not a download). */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * GETs `url` and parses its body as JSON. Rejects on a non-2xx status (with the status), a body over
 * `maxBytes`, invalid JSON, a network error or the timeout. Redirects are not followed: a list
 * endpoint does not move, and a redirect is not a place to send a provider's key.
 */
export function getJson(url: string, opts: GetJsonOptions): Promise<unknown> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : target.protocol === 'http:' ? httpRequest : undefined;
  if (!send) return Promise.reject(new HttpGetError(`unsupported protocol ${target.protocol}`));
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err: Error | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value);
    };
    const req = send(target, { method: 'GET', headers: { accept: 'application/json', ...opts.headers } });
    const timer = setTimeout(
      () => settle(new HttpGetError(`GET ${target.pathname} took longer than ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    req.on('error', (err) => settle(err));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) return settle(new HttpGetError(`GET ${target.pathname} answered ${status}`, status));
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxBytes) return settle(new HttpGetError(`GET ${target.pathname}: body over ${maxBytes} bytes`));
        chunks.push(chunk);
      });
      res.on('error', (err) => settle(err));
      res.on('end', () => {
        if (settled) return;
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          return settle(new HttpGetError(`GET ${target.pathname}: the body is not JSON (${(err as Error).message})`));
        }
        settle(null, body);
      });
    });
    req.end();
  });
}
