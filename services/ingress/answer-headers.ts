// The headers that say who answered: the provider that served the request, the upstream attempts it
// took, and whether a built-in simulator did. A JSON answer gets them through Fastify; an SSE stream
// writes them with its head at its first event (its reply is hijacked, so it writes its own head).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { guardrailsHeader } from './guardrails.ts';
import { sseHeaders } from './render.ts';

/** Set on every answer that came from a built-in simulator rather than a real upstream. */
export const SIMULATED_HEADER = 'x-switchyard-simulated';

/** A JSON answer's, from its result event. */
export function setAnsweredBy(
  reply: FastifyReply,
  ev: { provider: string; attempts?: number; attempt: number; simulated?: boolean },
): void {
  reply.header('x-switchyard-provider', ev.provider).header('x-switchyard-attempts', String(ev.attempts ?? ev.attempt));
  if (ev.simulated) reply.header(SIMULATED_HEADER, 'true');
}

/** A stream's, from its first event (an error carries no provider). */
export function streamHeaders(ev: StreamEvent): Record<string, string> {
  const provider = ev.type === 'chunk' ? ev.provider : ev.type === 'error' ? undefined : ev.provider;
  const attempts = ev.type === 'error' ? undefined : ev.attempts;
  const h: Record<string, string> = {};
  if (provider) h['x-switchyard-provider'] = provider;
  if (attempts !== undefined || provider) h['x-switchyard-attempts'] = String(attempts ?? ev.attempt);
  if (ev.type !== 'error' && ev.simulated) h[SIMULATED_HEADER] = 'true';
  return h;
}

/**
 * An SSE answer's head, written once at the stream's first event: hijacks the reply and writes the
 * SSE headers, who answers, admission's rate-limit headers, the guardrails that ran and `extra`.
 */
export class SseHead {
  /** Whether the head is out: from then on an error can only end the stream, not be an HTTP error. */
  opened = false;
  private readonly req: FastifyRequest;
  private readonly reply: FastifyReply;
  private readonly extra: Record<string, string> | undefined;

  constructor(req: FastifyRequest, reply: FastifyReply, extra?: Record<string, string>) {
    this.req = req;
    this.reply = reply;
    this.extra = extra;
  }

  /** Writes the head unless it is out; true when this call wrote it. */
  open(ev: StreamEvent): boolean {
    if (this.opened) return false;
    this.opened = true;
    this.reply.hijack();
    this.reply.raw.writeHead(200, {
      ...sseHeaders(this.req.id),
      ...streamHeaders(ev),
      ...this.req.admitted?.headers,
      ...guardrailsHeader(this.reply),
      ...this.extra,
    });
    return true;
  }
}
