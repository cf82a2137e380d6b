// HTTP to the upstream providers: undici's dispatcher API, one process-wide Agent (a keep-alive
// pool per origin, http and https), with an idle timeout, a connect timeout and an abort signal.
// The low-level dispatch() with our own handler, not undici's request() or node:http: request()
// wraps every answer in a Readable and a promise and, one call at a time, left ~7 KB per call alive
// past the next young-generation GC; node:http builds a ClientRequest, an IncomingMessage and their
// listeners per call. `node bench/upstream-client.ts` (the mock, 64 calls in flight, npm start's
// flags): node:http 80-84 µs CPU per call, request() 43, this 41-44, a bare dispatch() 34-35
// (docs/benchmarks.md, levers row "dispatch upstream").
import { addAbortListener } from 'node:events';
import { createRequire } from 'node:module';
import type { Dispatcher } from 'undici';
import type { UpstreamRequest } from '../../shared/providers/types.ts';
import { capUpstreamBody, type UpstreamBody, type UpstreamBodyLimits } from './upstream-body.ts';

// Only the Agent's module tree (dispatcher, HTTP/1 and HTTP/2 clients, the parser), not undici's
// index, which also loads fetch, the cache, WebSocket and the mocks into every worker's heap
// (shared/runtime/undici.ts loads the index on first use for the rare paths that need it).
const Agent = createRequire(import.meta.url)('undici/lib/dispatcher/agent.js') as typeof import('undici').Agent;

/** Longest wait for a new connection to the upstream (TCP, and TLS for https). */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long an idle connection is kept when the upstream does not say (its `Keep-Alive: timeout=`
 * wins, less two seconds): undici's default is 4 s, after which a quiet deployment would pay a new TCP
 * and TLS handshake to a provider on most calls; node:http's Agent, used before, kept them until the
 * server closed them.
 */
const UPSTREAM_KEEP_ALIVE_MS = 60_000;
const agent = new Agent({ connections: 1024, keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS, connect: { timeout: CONNECT_TIMEOUT_MS } });

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

/** What undici reports for an idle or unreachable upstream, as the worker's own timeout errors. */
function asUpstreamError(err: Error, timeoutMs: number): Error {
  switch ((err as { code?: string }).code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new UpstreamTimeoutError('UPSTREAM_HEADERS_TIMEOUT', timeoutMs);
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamTimeoutError('UPSTREAM_BODY_TIMEOUT', timeoutMs);
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamTimeoutError('UPSTREAM_CONNECT_TIMEOUT', CONNECT_TIMEOUT_MS);
    default:
      return err;
  }
}

/** The error an aborted call rejects with (the same name and code node:http and fetch use). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** Origin and path of an upstream URL, parsed once per distinct URL (bounded: model names are in some paths). */
const parsedUrls = new Map<string, { origin: string; path: string }>();
function originAndPath(href: string): { origin: string; path: string } {
  let parsed = parsedUrls.get(href);
  if (!parsed) {
    const url = new URL(href);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported upstream protocol ${url.protocol}`);
    if (parsedUrls.size >= 1024) parsedUrls.clear();
    parsedUrls.set(href, (parsed = { origin: url.origin, path: url.pathname + url.search }));
  }
  return parsed;
}

export function sendUpstream(req: UpstreamRequest, signal: AbortSignal, timeoutMs: number): Promise<UpstreamResponse> {
  return new Promise<UpstreamResponse>((resolve, reject) => {
    const target = originAndPath(req.url); // a malformed URL throws: the promise rejects with it
    if (signal.aborted) return reject(abortError(signal));
    // undici reports what fails before anything is sent (an invalid header value) to the
    // handler's onResponseError, as it does every later error.
    agent.dispatch(
      {
        origin: target.origin,
        path: target.path,
        method: 'POST',
        headers: req.headers,
        body: req.body,
        // Idle: no bytes for timeoutMs before the headers, or between two body reads.
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      new UpstreamCall(resolve, reject, timeoutMs, signal),
    );
  });
}

type BodyEvent = 'end' | 'close' | 'error';

/**
 * One upstream call: undici's handler for it, and from its response headers on, the body as the
 * small stream-like reader capUpstreamBody consumes (one reader: 'data' events, or 'readable' and
 * read()). Node's stream rules where they matter here: what arrives before a reader is attached is
 * kept (and the connection paused past 64 KB), 'end' follows the last byte read, 'close' follows
 * 'end' or an error, and a destroyed body aborts the call.
 */
class UpstreamCall implements Dispatcher.DispatchHandler {
  destroyed = false;
  errored: Error | null = null;
  private controller: Dispatcher.DispatchController | null = null;
  private settled = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ended = false;
  private finished = false;
  private onData: ((chunk: Buffer) => void) | null = null;
  private onReadable: (() => void) | null = null;
  private readableQueued = false;
  private listeners: { [E in BodyEvent]?: Array<(err?: Error) => void> } = {};
  private readonly resolve: (res: UpstreamResponse) => void;
  private readonly reject: (err: Error) => void;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal;
  private abortListener: Disposable | null;

  constructor(resolve: (res: UpstreamResponse) => void, reject: (err: Error) => void, timeoutMs: number, signal: AbortSignal) {
    this.resolve = resolve;
    this.reject = reject;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    // addAbortListener (what node:http uses), not signal.addEventListener('abort', ...): with the
    // latter (an object with once, or a plain function, removed at the end all the same) the broker
    // ran at +10-20% CPU per request and +80-90 MB peak RSS at max load, cause not found
    // (docs/benchmarks.md, "dispatch upstream").
    this.abortListener = addAbortListener(signal, () => this.onAbort());
  }

  // --- undici's side ---

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while queued for a connection: the call was rejected then, with nothing to abort yet.
    if (this.signal.aborted) controller.abort(abortError(this.signal));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // The raw header Buffers (views the parser copied out) would otherwise live as long as this
    // call: nothing here reads them, and a call in flight during a scavenge would carry ~2 KB of
    // them into the old generation.
    controller.rawHeaders = null;
    if (this.settled) return;
    this.settled = true;
    const contentType = headers['content-type'];
    this.resolve({
      status: statusCode,
      headers,
      body: capUpstreamBody(this, typeof contentType === 'string' ? contentType : undefined, upstreamBodyLimits),
    });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.onData && this.pending.length === 0) return this.onData(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.onReadable) this.queueReadable();
    // Nobody reading yet: stop reading the socket, as a Readable past its high-water mark would.
    else if (!this.onData && this.pendingBytes > 64 * 1024) controller.pause();
  }

  onResponseEnd(): void {
    this.ended = true;
    this.controller = null; // and with it undici's request (its body, headers, handler chain)
    this.stopListening();
    this.maybeFinish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    this.stopListening();
    this.controller = null;
    if (!this.settled) {
      this.settled = true;
      this.reject(asUpstreamError(err, this.timeoutMs));
    } else if (!this.destroyed) this.destroy(asUpstreamError(err, this.timeoutMs));
  }

  private stopListening(): void {
    this.abortListener?.[Symbol.dispose]();
    this.abortListener = null;
  }

  private onAbort(): void {
    const err = abortError(this.signal);
    if (!this.settled) {
      this.settled = true;
      this.reject(err);
      this.controller?.abort(err);
    } else if (!this.destroyed) this.destroy(err);
  }

  // --- the reader's side (RawBody in upstream-body.ts) ---

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'readable', listener: () => void): this;
  on(event: BodyEvent, listener: (err?: Error) => void): this;
  on(event: 'data' | 'readable' | BodyEvent, listener: (...args: never[]) => void): this {
    if (event === 'data') {
      this.onData = listener as (chunk: Buffer) => void;
      process.nextTick(() => this.flushToData());
    } else if (event === 'readable') {
      this.onReadable = listener as () => void;
      if (this.pending.length) this.queueReadable();
      else this.maybeFinish();
    } else (this.listeners[event] ??= []).push(listener as (err?: Error) => void);
    this.controller?.resume();
    return this;
  }

  once(event: 'end' | 'close', listener: () => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: BodyEvent, listener: (err: Error) => void): this {
    return this.on(event, listener as (err?: Error) => void); // each of these is emitted at most once
  }

  read(): Buffer | null {
    if (this.pending.length === 0) return null;
    const out = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.controller?.resume();
    this.maybeFinish();
    return out;
  }

  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.errored = err ?? null;
    this.pending = [];
    this.pendingBytes = 0;
    this.stopListening();
    if (!this.ended) this.controller?.abort(err ?? new Error('the upstream body was dropped'));
    this.controller = null;
    process.nextTick(() => {
      if (err) this.emit('error', err);
      this.emit('close');
    });
    return this;
  }

  private flushToData(): void {
    while (this.pending.length && !this.destroyed && this.onData) {
      const chunk = this.pending.shift()!;
      this.pendingBytes -= chunk.length;
      this.onData(chunk);
    }
    this.maybeFinish();
  }

  private queueReadable(): void {
    if (this.readableQueued) return;
    this.readableQueued = true;
    process.nextTick(() => {
      this.readableQueued = false;
      if (!this.destroyed && this.pending.length) this.onReadable?.();
    });
  }

  /** 'end' then 'close' once the upstream ended and a reader has taken every byte. */
  private maybeFinish(): void {
    if (!this.ended || this.finished || this.destroyed || this.pending.length || !(this.onData || this.onReadable)) return;
    this.finished = true;
    process.nextTick(() => {
      this.emit('end');
      this.emit('close');
    });
  }

  private emit(event: BodyEvent, err?: Error): void {
    const listeners = this.listeners[event];
    if (!listeners) return;
    this.listeners[event] = undefined;
    for (const l of listeners) l(err);
  }
}
