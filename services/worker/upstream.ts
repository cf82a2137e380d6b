// HTTP to the upstream providers: one keep-alive pool per origin (undici Agent), abortable.
import { Agent, request } from 'undici';
import type { UpstreamRequest } from '../../shared/providers/types.ts';
import { capUpstreamBody, type UpstreamBody, type UpstreamBodyLimits } from './upstream-body.ts';

export const upstreamAgent = new Agent({
  keepAliveTimeout: 30_000,
  keepAliveMaxTimeout: 120_000,
  connections: 1024,
  pipelining: 1,
  connect: { timeout: 10_000 },
});

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

export async function sendUpstream(req: UpstreamRequest, signal: AbortSignal, timeoutMs: number): Promise<UpstreamResponse> {
  const started = performance.now();
  const res = await request(req.url, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
    signal,
    dispatcher: upstreamAgent,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const ms = performance.now() - started;
  upstreamLatency.ewmaMs = upstreamLatency.ewmaMs === 0 ? ms : upstreamLatency.ewmaMs * 0.95 + ms * 0.05;
  const contentType = res.headers['content-type'];
  const body = capUpstreamBody(res.body, Array.isArray(contentType) ? contentType[0] : contentType, upstreamBodyLimits);
  return { status: res.statusCode, headers: res.headers, body };
}
