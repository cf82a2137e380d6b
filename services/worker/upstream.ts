// HTTP to the upstream providers: node:http / node:https with one keep-alive Agent per protocol,
// abortable, with an idle timeout and a connect timeout. Not undici: its request() keeps ~6 KB per
// call alive past the next young-generation GC, which then copies and promotes it (6.4 KB per
// request vs 0.01 KB with node:http, scavenge pauses 7.0 vs 0.8 ms, 306 vs 228 µs CPU per call;
// `node bench/young-gen.ts`, docs/benchmarks.md).
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { UpstreamRequest } from '../../shared/providers/types.ts';
import { capUpstreamBody, type UpstreamBody, type UpstreamBodyLimits } from './upstream-body.ts';

const AGENT_OPTIONS = { keepAlive: true, maxSockets: 1024, maxFreeSockets: 256, scheduling: 'lifo' } as const;
const agents = { 'http:': new http.Agent(AGENT_OPTIONS), 'https:': new https.Agent(AGENT_OPTIONS) };
/** Longest wait for a new connection to the upstream (TCP, and TLS for https). */
const CONNECT_TIMEOUT_MS = 10_000;

/** An upstream that stayed silent: before its response headers, or between two reads of its body. */
export class UpstreamTimeoutError extends Error {
  readonly code: 'UPSTREAM_HEADERS_TIMEOUT' | 'UPSTREAM_BODY_TIMEOUT' | 'UPSTREAM_CONNECT_TIMEOUT';
  constructor(code: UpstreamTimeoutError['code'], ms: number) {
    const what = {
      UPSTREAM_HEADERS_TIMEOUT: 'response headers',
      UPSTREAM_BODY_TIMEOUT: 'the next body read',
      UPSTREAM_CONNECT_TIMEOUT: 'a connection',
    };
    super(`no ${what[code]} from the upstream within ${ms} ms`);
    this.code = code;
  }
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: UpstreamBody;
}

/**
 * Caps on upstream bodies for this process, set by startWorker from UPSTREAM_MAX_BODY_BYTES and
 * UPSTREAM_MAX_EVENT_BYTES (docs/security.md). Process-wide like the agent: every worker in a
 * process shares the config.
 */
export const upstreamBodyLimits: UpstreamBodyLimits = { maxBodyBytes: 4 * 1024 * 1024, maxEventBytes: 1024 * 1024 };

/**
 * Smoothed time from sending a request to the upstream's response headers, over all calls of this
 * process. The batch pump sizes its in-flight window from it: a slow upstream needs many lines in
 * flight to keep busy, a fast one only a few (whose answers are then mostly CPU).
 */
export const upstreamLatency = { ewmaMs: 0 };

export function sendUpstream(req: UpstreamRequest, signal: AbortSignal, timeoutMs: number): Promise<UpstreamResponse> {
  const started = performance.now();
  return new Promise<UpstreamResponse>((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch (err) {
      return reject(err as Error);
    }
    const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
    const client = url.protocol === 'https:' ? https : http;
    let response: IncomingMessage | null = null;
    let outgoing: http.ClientRequest;
    try {
      outgoing = client.request(url, { method: 'POST', headers: req.headers, agent, signal });
    } catch (err) {
      // An invalid header value (node:http checks them before anything is sent).
      return reject(err as Error);
    }
    // Idle: no bytes either way for timeoutMs, before the headers or between two body reads.
    outgoing.setTimeout(timeoutMs, () => {
      // Its 'error' (below) hands the timeout to a body being read.
      outgoing.destroy(new UpstreamTimeoutError(response ? 'UPSTREAM_BODY_TIMEOUT' : 'UPSTREAM_HEADERS_TIMEOUT', timeoutMs));
    });
    outgoing.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => outgoing.destroy(new UpstreamTimeoutError('UPSTREAM_CONNECT_TIMEOUT', CONNECT_TIMEOUT_MS)),
        CONNECT_TIMEOUT_MS,
      );
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    outgoing.once('error', (err) => {
      // Before the headers the call fails; after them the body read fails with this error (on its
      // own the response would only say it was aborted).
      if (response) response.destroy(err);
      else reject(err);
    });
    outgoing.once('response', (res) => {
      response = res;
      const ms = performance.now() - started;
      upstreamLatency.ewmaMs = upstreamLatency.ewmaMs === 0 ? ms : upstreamLatency.ewmaMs * 0.95 + ms * 0.05;
      const contentType = res.headers['content-type'];
      resolve({
        status: res.statusCode ?? 502,
        headers: res.headers,
        body: capUpstreamBody(res, contentType, upstreamBodyLimits),
      });
    });
    outgoing.end(req.body);
  });
}
