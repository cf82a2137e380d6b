// One request's trip through the broker as an HTTP route sees it: admission (rate limits, budget),
// the publish, the worker's events back, the client going away, the deadline. Chat, embeddings,
// Anthropic Messages, Responses and legacy completions all go through this one function, so what
// a request settles with admission, the error headers it answers with and the provider it is
// labelled with in metrics cannot drift apart between routes.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import type { Admission, Admitted, Settlement } from './admission.ts';
import type { Dispatcher } from './dispatcher.ts';
import { principalOf } from './principal.ts';
import { sseError } from './render.ts';
import type { Route } from './routing.ts';

export interface DispatchOptions {
  req: FastifyRequest;
  reply: FastifyReply;
  kind: 'chat' | 'embeddings';
  route: Route;
  publicModel: string;
  stream: boolean;
  /**
   * Every event of the request, for a route that streams; returns true when the response is
   * finished. Without it the dispatch resolves with the terminal event (or throws its error).
   */
  onStreamEvent?: (ev: StreamEvent) => boolean;
  /** An Anthropic Messages body (routes/messages.ts); default OpenAI. */
  wire?: 'openai' | 'anthropic';
  anthropicBeta?: string;
  /** Content guardrails the worker applies to the answer. */
  guardrails?: readonly string[];
  /** The id it is queued under; default the HTTP request's (legacy completions queue one per prompt). */
  requestId?: string;
  /** What is queued; default the client's bytes (`req.rawBody`). A route that translated the body passes the translation. */
  body?: Uint8Array | string;
  /** What admission estimates the request's size from; default the parsed client body. */
  admissionBody?: unknown;
  /** A stream that loses its client keeps running for a resume (chat, Messages) instead of being cancelled. */
  resumable?: boolean;
  /** The last frames of a stream whose deadline passed after it started; default an SSE error frame. */
  streamTimeoutFrames?: () => string;
}

export type Dispatch = (job: DispatchOptions) => Promise<StreamEvent>;

export interface DispatchDeps {
  dispatcher: Dispatcher;
  admission: Admission;
  /** Resumable streams (resumable.ts): a stream whose client went away is detached, not cancelled. */
  resume: { detach(requestId: string): void };
}

export function requestDispatch({ dispatcher, admission, resume }: DispatchDeps): Dispatch {
  return async function dispatch(job) {
    const { req, reply, route, stream } = job;
    const requestId = job.requestId ?? req.id;
    let finished = false;
    let admitted: Admitted | null = null;
    let settle!: { resolve: (ev: StreamEvent) => void; reject: (err: ApiError) => void };
    const result = new Promise<StreamEvent>((resolve, reject) => (settle = { resolve, reject }));
    const finish = (ev: StreamEvent | ApiError) => {
      if (finished) return;
      finished = true;
      if (!(ev instanceof ApiError) && (ev.type === 'done' || ev.type === 'result')) {
        req.usage = ev.usage;
        req.servedBy = ev.provider;
      }
      admitted?.settle(settlementOf(ev, reply.raw.headersSent));
      if (ev instanceof ApiError) settle.reject(ev);
      else if (ev.type === 'error' && !reply.raw.headersSent) {
        const { message, type, param, code } = ev.error;
        settle.reject(new ApiError(ev.status, message, { type, param, code, headers: retryHeaders(ev.retry_after_ms) }));
      } else settle.resolve(ev);
    };
    // The client went away before the answer was complete: stop the upstream call, or keep a
    // resumable stream running for STREAM_RESUME_GRACE_MS (resumable.ts).
    reply.raw.once('close', () => {
      if (finished) return;
      finished = true;
      admitted?.settle('unknown');
      if (stream && job.resumable) resume.detach(requestId);
      else dispatcher.cancel(requestId);
    });
    // ---- admission: rate limits and budget (throws the 429); null = principal without limits ----
    const admitting = admission.admit(principalOf(req), route.targets ?? [route], job.admissionBody ?? req.body, job.kind);
    if (admitting) {
      admitted = await admitting;
      // The route's stream headers read it; a request queued under its own id is the HTTP request's.
      if (requestId === req.id) req.admitted = admitted;
      reply.headers(admitted.headers);
    }
    // The answer, not the publish ack, ends the wait: no answer reaches the client before the store
    // is acknowledged (a worker gets the request from JetStream, or, run early in this process, its
    // events wait in the router: local-execution.ts), and waiting for the ack as well would add the
    // JetStream file store's tail to every response. A refused publish still fails the request (503)
    // before any answer is handed over.
    const submitted = dispatcher.submit(
      {
        requestId,
        principal: principalOf(req),
        kind: job.kind,
        route,
        publicModel: job.publicModel,
        stream,
        body: job.body ?? req.rawBody!,
        wire: job.wire,
        anthropicBeta: job.anthropicBeta,
        ...(job.guardrails ? { guardrails: job.guardrails } : {}),
      },
      {
        onEvent: (ev) => {
          const done = job.onStreamEvent ? job.onStreamEvent(ev) : ev.type !== 'chunk';
          if (done) finish(ev);
          return done;
        },
        onTimeout: () => {
          if (!reply.raw.headersSent) return finish(errors.timeout());
          // Mid-stream: the stream ends with the error; the handler itself has nothing left to send.
          const { error } = errors.timeout().toBody();
          reply.raw.end(job.streamTimeoutFrames?.() ?? sseError({ error }));
          finish({ type: 'error', seq: 0, attempt: 0, status: 504, error });
        },
      },
    );
    submitted.catch((err: unknown) => {
      finish(err instanceof ApiError ? err : errors.unavailable(`The request could not be queued: ${String(err)}`));
    });
    return result;
  };
}

/** What a terminal event tells admission: real usage, nothing produced, or unknown. */
export function settlementOf(ev: StreamEvent | ApiError, streaming: boolean): Settlement {
  if (ev instanceof ApiError) return ev.status === 504 || ev.outcomeUnknown ? 'unknown' : 'failed';
  if (ev.type === 'done' || ev.type === 'result') {
    const u = ev.usage;
    const usage = {
      prompt_tokens: u.prompt_tokens,
      completion_tokens: 'completion_tokens' in u ? u.completion_tokens : 0,
      total_tokens: u.total_tokens,
    };
    if ('prompt_tokens_details' in u) Object.assign(usage, { prompt_tokens_details: u.prompt_tokens_details });
    return { usage, target: ev.target ?? `${ev.provider}/${ev.model}` };
  }
  // An error after the stream started may follow tokens the upstream already produced.
  return ev.type === 'error' && !streaming ? 'failed' : 'unknown';
}

export function retryHeaders(retryAfterMs: number | undefined): Record<string, string> {
  if (retryAfterMs === undefined) return {};
  return { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))), 'retry-after-ms': String(Math.round(retryAfterMs)) };
}
