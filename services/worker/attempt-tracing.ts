// Worker spans, created only while tracing is on (shared/telemetry/tracing.ts). For each delivery of
// a request: `queue wait` from the ingress's publish (the sy-received-at header) to this pickup, and
// `worker attempt` around the handling, both children of the ingress span whose context came in the
// message headers. Inside the attempt, each upstream call is a client span named by the GenAI
// conventions (`chat gpt-4o-mini`); the terminal event ends it with the response attributes.
import type { JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { decodeRequestEnvelope } from '../../shared/nats/request-envelope.ts';
import { subjects } from '../../shared/nats/topology.ts';
import type { EventBody } from '../../shared/protocol/events.ts';
import type { UpstreamRequest } from '../../shared/providers/types.ts';
import {
  activeAttempt,
  context,
  endUpstream,
  extractFromHeaders,
  getTracer,
  markError,
  SpanKind,
  withAttempt,
  type AttemptTrace,
} from '../../shared/telemetry/tracing.ts';
import { genAiRequestAttributes, genAiResponseAttributes } from '../../shared/telemetry/genai-attributes.ts';
import { sendUpstream, type UpstreamResponse } from './upstream.ts';

/** Runs `handle` inside a `worker attempt` span; the spans of the upstream calls nest under it. */
export async function traceDelivery(msg: JsMsg, handle: () => Promise<void>): Promise<void> {
  const pickedUp = Date.now();
  const h = msg.headers as MsgHdrs | undefined;
  const envelope = decodeRequestEnvelope(h ?? { get: () => '' }, pickedUp);
  if (!envelope) return handle(); // unreadable: handle() drops it, nothing to trace
  const parent = extractFromHeaders(h);
  const tracer = getTracer();
  const messaging = {
    'messaging.system': 'nats',
    'messaging.destination.name': msg.subject,
    'messaging.destination.template': subjects.requestTemplate(msg.subject),
    'messaging.message.id': envelope.requestId,
    'switchyard.request_id': envelope.requestId,
    'switchyard.priority': envelope.priority,
  };
  tracer
    .startSpan('queue wait', { kind: SpanKind.INTERNAL, startTime: Math.min(envelope.receivedAt, pickedUp), attributes: messaging }, parent)
    .end(pickedUp);
  const span = tracer.startSpan(
    'worker attempt',
    {
      kind: SpanKind.CONSUMER,
      startTime: pickedUp,
      attributes: {
        ...messaging,
        'messaging.operation.type': 'process',
        'switchyard.delivery_count': msg.info.deliveryCount,
        ...genAiRequestAttributes(envelope.kind, envelope.provider, envelope.model),
      },
    },
    parent,
  );
  const attempt: AttemptTrace = { span, operation: envelope.kind, upstream: null };
  try {
    await context.with(withAttempt(parent, attempt), handle);
  } catch (err) {
    markError(span, 'exception', (err as Error).message);
    throw err;
  } finally {
    endUpstream(attempt);
    span.end();
  }
}

/** The worker emitted an event: a terminal one completes the attempt's and the upstream call's attributes. */
export function traceEvent(ev: EventBody): void {
  const attempt = activeAttempt();
  if (!attempt) return;
  if (ev.type === 'error') {
    const type = ev.error.code ?? ev.error.type;
    markError(attempt.span, type, ev.error.message);
    if (attempt.upstream) markError(attempt.upstream, type, ev.error.message);
    endUpstream(attempt);
    return;
  }
  if (ev.type !== 'done' && ev.type !== 'result') return;
  const response = genAiResponseAttributes(ev)!;
  attempt.span.setAttributes(response);
  // After a fallback the provider that served is not the one the request was queued for.
  attempt.span.setAttributes(genAiRequestAttributes(attempt.operation, ev.provider, null));
  if (ev.target) attempt.span.setAttribute('switchyard.target', ev.target);
  attempt.upstream?.setAttributes(response);
  endUpstream(attempt);
}

/** sendUpstream inside a client span (the attempt's upstream call until the terminal event or a retry). */
export async function tracedSendUpstream(
  provider: string,
  model: string,
  up: UpstreamRequest,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<UpstreamResponse> {
  const attempt = activeAttempt();
  if (attempt) endUpstream(attempt); // a retry or the next fallback target: the previous call is over
  const operation = attempt?.operation ?? 'chat';
  const url = safeUrl(up.url);
  const span = getTracer().startSpan(`${operation} ${model}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      ...genAiRequestAttributes(operation, provider, model),
      'http.request.method': 'POST',
      ...(url ? { 'server.address': url.hostname, 'url.full': `${url.origin}${url.pathname}` } : {}),
    },
  });
  try {
    const res = await sendUpstream(up, signal, timeoutMs);
    span.setAttribute('http.response.status_code', res.status);
    if (res.status >= 400 || !attempt) {
      if (res.status >= 400) markError(span, String(res.status));
      span.end();
    } else attempt.upstream = span; // the body is still coming: ended with the terminal event
    return res;
  } catch (err) {
    markError(span, (err as { code?: string }).code ?? (err as Error).name, (err as Error).message);
    span.end();
    throw err;
  }
}

/** Origin and path only: a query string may carry a provider key. */
function safeUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}
