// The one request dispatch every OpenAI and Anthropic route shares (services/ingress/request-dispatch.ts):
// what each way a request can end settles with admission, which errors carry retry headers, and
// whether a client that goes away cancels the request or leaves a resumable stream running.
// Dispatcher and admission are recording stand-ins: this is the route-side contract only; the
// integration tests drive the same code through NATS and a worker.
import { EventEmitter } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/protocol/errors.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import type { Admission, Settlement } from '../../services/ingress/admission.ts';
import type { DispatchHandlers, DispatchJob, Dispatcher } from '../../services/ingress/dispatcher.ts';
import { requestDispatch, type DispatchOptions } from '../../services/ingress/request-dispatch.ts';

const route = { provider: 'openai', model: 'gpt-4o-mini' } as DispatchOptions['route'];
const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
const result = {
  type: 'result',
  kind: 'chat',
  seq: 1,
  attempt: 1,
  message: { role: 'assistant', content: 'hi' },
  finish_reason: 'stop',
  usage,
  model: 'gpt-4o-mini',
  provider: 'openai',
} as StreamEvent;
const chunk = { type: 'chunk', seq: 0, attempt: 1, delta: { content: 'h' }, provider: 'openai' } as StreamEvent;
const upstream429 = {
  type: 'error',
  seq: 1,
  attempt: 1,
  status: 429,
  retry_after_ms: 1500,
  error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limited' },
} as StreamEvent;

function harness({ limited = true } = {}) {
  const submitted: DispatchJob[] = [];
  const cancelled: string[] = [];
  const detached: string[] = [];
  const settlements: Settlement[] = [];
  let handlers!: DispatchHandlers;
  const dispatcher = {
    submit: async (job: DispatchJob, h: DispatchHandlers) => {
      submitted.push(job);
      handlers = h;
    },
    cancel: (id: string) => void cancelled.push(id),
  } as unknown as Dispatcher;
  const admission = {
    admit: () =>
      limited
        ? Promise.resolve({ headers: { 'x-ratelimit-limit-requests': '10' }, settle: (s: Settlement) => void settlements.push(s) })
        : null,
  } as unknown as Admission;
  const raw = Object.assign(new EventEmitter(), {
    headersSent: false,
    ended: [] as string[],
    end: (frames: string) => void raw.ended.push(frames),
  });
  const replyHeaders: Record<string, string> = {};
  const reply = { raw, headers: (h: Record<string, string>) => Object.assign(replyHeaders, h) } as unknown as FastifyReply;
  const req = {
    id: 'req_1',
    body: { model: 'openai/gpt-4o-mini' },
    rawBody: Buffer.from('{"model":"openai/gpt-4o-mini"}'),
    principal: { tenantId: 't1' },
  } as unknown as FastifyRequest;
  const dispatch = requestDispatch({ dispatcher, admission, resume: { detach: (id) => void detached.push(id) } });
  const job = (extra: Partial<DispatchOptions> = {}): DispatchOptions => ({
    req,
    reply,
    kind: 'chat',
    route,
    publicModel: 'openai/gpt-4o-mini',
    stream: false,
    ...extra,
  });
  // Admission is awaited before the publish: let it run.
  const published = async () => {
    for (let i = 0; i < 5 && !handlers; i++) await Promise.resolve();
    return handlers;
  };
  return { dispatch, job, req, reply, raw, replyHeaders, submitted, cancelled, detached, settlements, published };
}

describe('requestDispatch', () => {
  it('a JSON answer: resolves with it, settles its usage, labels the provider, queues the client bytes under the request id', async () => {
    const h = harness();
    const answer = h.dispatch(h.job());
    (await h.published()).onEvent(result);
    await expect(answer).resolves.toBe(result);
    expect(h.settlements).toEqual([{ usage, target: 'openai/gpt-4o-mini' }]);
    expect(h.req.servedBy).toBe('openai');
    expect(h.req.usage).toBe(usage);
    expect(h.submitted[0]).toMatchObject({ requestId: 'req_1', body: h.req.rawBody, stream: false });
    expect(h.replyHeaders).toEqual({ 'x-ratelimit-limit-requests': '10' });
    expect(h.req.admitted).toBeDefined();
  });

  it('an upstream error before the answer: an HTTP error with its retry headers, settled as nothing produced', async () => {
    const h = harness();
    const answer = h.dispatch(h.job());
    (await h.published()).onEvent(upstream429);
    const err = await answer.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 429, headers: { 'retry-after': '2', 'retry-after-ms': '1500' } });
    expect(h.settlements).toEqual(['failed']);
  });

  it('an error after a stream started: resolved for the route to render, settled as unknown (tokens may have been produced)', async () => {
    const h = harness();
    const seen: StreamEvent[] = [];
    const answer = h.dispatch(h.job({ stream: true, onStreamEvent: (ev) => (seen.push(ev), ev.type !== 'chunk') }));
    const handlers = await h.published();
    handlers.onEvent(chunk);
    h.raw.headersSent = true;
    handlers.onEvent(upstream429);
    await expect(answer).resolves.toBe(upstream429);
    expect(seen).toEqual([chunk, upstream429]);
    expect(h.settlements).toEqual(['unknown']);
  });

  it('a client gone from a resumable stream leaves it running; from any other request, cancels it', async () => {
    const resumable = harness();
    void resumable.dispatch(resumable.job({ stream: true, resumable: true, onStreamEvent: () => false }));
    await resumable.published();
    resumable.raw.emit('close');
    expect(resumable.detached).toEqual(['req_1']);
    expect(resumable.cancelled).toEqual([]);
    expect(resumable.settlements).toEqual(['unknown']);

    for (const extra of [
      { stream: true, onStreamEvent: () => false },
      { stream: false, resumable: true },
    ]) {
      const h = harness();
      void h.dispatch(h.job(extra));
      await h.published();
      h.raw.emit('close');
      expect(h.cancelled).toEqual(['req_1']);
      expect(h.detached).toEqual([]);
    }
  });

  it('a request queued under an id of its own (a legacy completion prompt) leaves the HTTP request’s admission alone', async () => {
    const h = harness();
    const answer = h.dispatch(h.job({ requestId: 'req_1_1', body: '{"translated":true}', admissionBody: { translated: true } }));
    (await h.published()).onEvent(result);
    await answer;
    expect(h.submitted[0]).toMatchObject({ requestId: 'req_1_1', body: '{"translated":true}' });
    expect(h.req.admitted).toBeUndefined();
    expect(h.settlements).toHaveLength(1);
  });

  it('a deadline passed mid-stream ends the stream with the route’s frames and resolves a 504 error', async () => {
    const h = harness({ limited: false });
    const answer = h.dispatch(h.job({ stream: true, onStreamEvent: () => false, streamTimeoutFrames: () => 'event: error\n\n' }));
    const handlers = await h.published();
    h.raw.headersSent = true;
    handlers.onTimeout();
    await expect(answer).resolves.toMatchObject({ type: 'error', status: 504 });
    expect(h.raw.ended).toEqual(['event: error\n\n']);
    // Without limits there is nothing to settle, and a late event changes nothing.
    handlers.onEvent(result);
    expect(h.settlements).toEqual([]);
  });
});
