// OpenTelemetry tracing, off unless an OTLP endpoint is configured. Off means: the SDK is never
// imported, no context manager is installed, and every hook on the request path is one check of
// `tracing.on`. On, the OpenTelemetry Node SDK reads the standard OTEL_* variables itself (protocol,
// sampler, batch delays, headers, resource attributes); we only decide whether to load it.
// Spans and attributes: docs/observability.md.
import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';
import { IdTable } from '../runtime/id-table.ts';

/** Read on the hot path: a plain property, so "off" costs one load and one branch. */
export const tracing = { on: false };

let tracer: Tracer = trace.getTracer('switchyard');
let sdk: { shutdown(): Promise<void> } | null = null;

/** Tracing is wanted when an OTLP endpoint is set and neither the SDK nor the trace exporter is disabled. */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Loads and starts the SDK when `tracingWanted(process.env)`; once per process. The SDK reads its
 * settings from process.env, so that is where the OTEL_* variables must be.
 */
export async function startTracing(service: string): Promise<boolean> {
  if (tracing.on || !tracingWanted(process.env)) return tracing.on;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const node = new NodeSDK({
    // `npm start` boots as 'switchyard'; the separate services as switchyard-ingress, -worker, ...
    serviceName: process.env.OTEL_SERVICE_NAME || (service === 'switchyard' ? 'switchyard' : `switchyard-${service}`),
    // Traces only: metrics are Prometheus (/metrics), logs are pino on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  node.start();
  sdk = node;
  tracer = trace.getTracer('switchyard');
  tracing.on = true;
  return true;
}

/** Exports what is buffered and stops; called on shutdown so the last spans are not lost. */
export async function stopTracing(): Promise<void> {
  const s = sdk;
  sdk = null;
  tracing.on = false;
  await s?.shutdown().catch(() => {});
}

export function getTracer(): Tracer {
  return tracer;
}

// ---- context across NATS: W3C traceparent/tracestate as message headers ----

const natsSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const natsGetter: TextMapGetter<MsgHdrs> = {
  get: (carrier, key) => carrier.get(key) || undefined,
  keys: (carrier) => carrier.keys(),
};

/** Writes the context (by default the active one) into NATS headers, with the global (W3C) propagator. */
export function injectIntoHeaders(h: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, h, natsSetter);
}

/** The remote parent a publisher put into the headers; ROOT_CONTEXT based, so nothing local leaks in. */
export function extractFromHeaders(h: MsgHdrs | undefined): Context {
  return h ? propagation.extract(ROOT_CONTEXT, h, natsGetter) : ROOT_CONTEXT;
}

/** The `traceparent` of the active span, for records that travel without headers (usage records). */
export function activeTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a `traceparent` string stands for. */
export function contextOfTraceparent(traceparent: string): Context {
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

// ---- the ingress request span of each request id, until it has been published ----

const ingressSpans = new IdTable<Span>();

export function rememberIngressSpan(requestId: string, span: Span): void {
  ingressSpans.set(requestId, span);
}

export function forgetIngressSpan(requestId: string): void {
  ingressSpans.delete(requestId);
}

/** The context a request published for `requestId` continues: its ingress span, else the active one. */
export function contextForRequest(requestId: string): Context {
  const span = ingressSpans.get(requestId);
  return span ? trace.setSpan(context.active(), span) : context.active();
}

// ---- the worker attempt: one span per delivery, the upstream call inside it ----

export interface AttemptTrace {
  span: Span;
  operation: 'chat' | 'embeddings';
  /** The upstream call in progress; ended by the terminal event, a retry, or the attempt's end. */
  upstream: Span | null;
}

const ATTEMPT = createContextKey('switchyard.attempt');

export function withAttempt(parent: Context, attempt: AttemptTrace): Context {
  return trace.setSpan(parent, attempt.span).setValue(ATTEMPT, attempt);
}

export function activeAttempt(): AttemptTrace | undefined {
  return context.active().getValue(ATTEMPT) as AttemptTrace | undefined;
}

export function endUpstream(attempt: AttemptTrace): void {
  attempt.upstream?.end();
  attempt.upstream = null;
}

export function markError(span: Span, errorType: string, message?: string): void {
  span.setAttribute('error.type', errorType);
  span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message } : {}) });
}

export { context, SpanKind, trace, type Attributes, type Context, type Span };
