// HTTP to the upstream providers: one keep-alive pool per origin (undici Agent), abortable.
import { Agent, request } from 'undici';
import type { UpstreamRequest } from '../../shared/providers/types.ts';

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
  body: AsyncIterable<Buffer> & { text(): Promise<string>; dump(): Promise<void> };
}

export async function sendUpstream(req: UpstreamRequest, signal: AbortSignal, timeoutMs: number): Promise<UpstreamResponse> {
  const res = await request(req.url, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
    signal,
    dispatcher: upstreamAgent,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return { status: res.statusCode, headers: res.headers, body: res.body };
}
