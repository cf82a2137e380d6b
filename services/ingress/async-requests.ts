// Single async requests and stream resume:
// - `Prefer: respond-async` on POST /v1/chat/completions: 202 + request id; the request is published
//   with the pseudo ingress id `async`, and one durable consumer (`async-results` on LLM_RESULTS,
//   pulled by every ingress) stores the terminal event in async_requests, kept ASYNC_RESULT_TTL_SECONDS;
// - GET /v1/requests/{id}: status, and the result once done;
// - GET /v1/requests/{id}/events: the request's events as OpenAI SSE with `id: <seq>` lines, resuming
//   after `Last-Event-ID`; works for async requests and for every streamed chat completion (on any
//   ingress, while its events are kept: EVENTS_MAX_AGE_SECONDS).
// Only the owning tenant can read a request; others get 404.
import type { ConsumerMessages } from '@nats-io/jetstream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Nats } from '../../shared/nats/connection.ts';
import { asyncConsumerNames, consumeOptions, EVENT_OWNERS, requestIdOfResult, STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { Db } from '../../shared/db/database.ts';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import type { ChatResultEvent, StreamEvent } from '../../shared/protocol/events.ts';
import { errors } from '../../shared/protocol/errors.ts';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { publishRequest } from './dispatcher.ts';
import { MessagesEventRenderer } from './messages-render.ts';
import { chatCompletionBody, ChunkWriter, renderCompletion, type ChatCompletionBody, renderEvent, sseError, sseHeaders } from './render.ts';
import type { StreamResume } from './resumable.ts';
import type { Route } from './routing.ts';
import { writeSse } from './sse-backpressure.ts';
import { principalOf } from './principal.ts';
import { documentRoute } from './openapi/registry.ts';
import { asyncRequestSchema } from './openapi/schemas.ts';

export interface AsyncRequestsOptions {
  config: SwitchyardConfig;
  nats: Nats;
  db: Db;
  log: Logger;
  resume: StreamResume;
  authenticate: (req: FastifyRequest) => Promise<void>;
}

export function wantsAsync(req: FastifyRequest): boolean {
  const prefer = req.headers.prefer;
  return typeof prefer === 'string' && /(^|[\s,;])respond-async(\s*($|[,;]))/i.test(prefer);
}

const unix = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);
const completionId = (requestId: string) => `chatcmpl-${requestId.slice(4)}`;

export class AsyncRequests {
  private readonly opts: AsyncRequestsOptions;
  private messages: ConsumerMessages | null = null;
  private pump: Promise<void> = Promise.resolve();
  private readonly purgeTimer: NodeJS.Timeout;

  constructor(opts: AsyncRequestsOptions) {
    this.opts = opts;
    // Any ingress may purge; the delete is idempotent.
    this.purgeTimer = setInterval(() => {
      void opts.db
        .deleteFrom('async_requests')
        .where('expires_at', '<', new Date())
        .execute()
        .catch((err: unknown) => opts.log.warn({ err: (err as Error).message }, 'purging expired async requests failed'));
    }, 60_000);
    this.purgeTimer.unref();
  }

  /** Starts collecting async results (every ingress pulls from the one durable consumer). */
  async start(): Promise<void> {
    const { nats, db, log } = this.opts;
    const consumer = await nats.js.consumers.get(STREAMS.results, asyncConsumerNames.asyncResults);
    const messages = await consumer.consume(consumeOptions(256));
    this.messages = messages;
    const dec = new TextDecoder();
    this.pump = (async () => {
      for await (const m of messages) {
        const id = requestIdOfResult(m.subject);
        let ev: StreamEvent;
        try {
          ev = JSON.parse(dec.decode(m.data)) as StreamEvent;
        } catch {
          m.term();
          continue;
        }
        if (ev.type === 'chunk') {
          m.ack();
          continue;
        }
        try {
          const row = await db.selectFrom('async_requests').select(['model', 'created_at']).where('id', '=', id).executeTakeFirst();
          if (row) {
            const ok = ev.type === 'result' && ev.kind === 'chat';
            const body = ok
              ? chatCompletionBody(completionId(id), unix(row.created_at), row.model, ev as ChatResultEvent)
              : ev.type === 'error'
                ? { error: ev.error }
                : { error: { message: 'unexpected event', type: 'server_error', param: null, code: null } };
            await db
              .updateTable('async_requests')
              .set({
                status: ok ? 'completed' : 'failed',
                status_code: ok ? 200 : ev.type === 'error' ? ev.status : 502,
                result: JSON.stringify(body),
                completed_at: new Date(),
              })
              .where('id', '=', id)
              .where('completed_at', 'is', null)
              .execute();
          }
          m.ack();
        } catch (err) {
          log.warn({ err: (err as Error).message, requestId: id }, 'storing async result failed; will retry');
          m.nak(1_000);
        }
      }
    })();
  }

  /** `Prefer: respond-async`: queue the request and answer 202 at once. */
  async accept(req: FastifyRequest, reply: FastifyReply, body: ChatCompletionRequest, route: Route) {
    const { config, db, nats } = this.opts;
    const principal = principalOf(req);
    const now = new Date();
    await db
      .insertInto('async_requests')
      .values({
        id: req.id,
        tenant_id: principal.tenantId,
        model: body.model,
        status: 'in_progress',
        created_at: now,
        expires_at: new Date(now.getTime() + config.ASYNC_RESULT_TTL_SECONDS * 1000),
      })
      .execute();
    // One JSON answer: the result is stored whole; /events renders it as a stream if asked.
    const { stream: _s, stream_options: _o, ...rest } = body as ChatCompletionRequest & { stream_options?: unknown };
    try {
      await publishRequest(nats, EVENT_OWNERS.async, {
        requestId: req.id,
        principal,
        kind: 'chat',
        route,
        publicModel: body.model,
        stream: false,
        body: JSON.stringify(rest),
        ...(req.workerGuardrails?.length ? { guardrails: req.workerGuardrails } : {}),
      });
    } catch (err) {
      // Not queued: no result will ever come, so do not leave a request that looks pending.
      await db
        .deleteFrom('async_requests')
        .where('id', '=', req.id)
        .execute()
        .catch(() => {});
      throw err;
    }
    return reply
      .code(202)
      .header('location', `/v1/requests/${req.id}`)
      .header('preference-applied', 'respond-async')
      .send(requestObject(req.id, body.model, now, 'in_progress', null, null, null));
  }

  routes = async (app: FastifyInstance): Promise<void> => {
    const { db, resume, config, authenticate } = this.opts;

    app.get<{ Params: { id: string } }>('/v1/requests/:id', { onRequest: authenticate }, async (req) => {
      const tenantId = principalOf(req).tenantId;
      const row = await db
        .selectFrom('async_requests')
        .selectAll()
        .where('id', '=', req.params.id)
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst();
      if (row) {
        return requestObject(row.id, row.model, row.created_at, row.status, row.completed_at, row.status_code, row.result);
      }
      const owner = await resume.owner(req.params.id);
      if (!owner || owner.tenantId !== tenantId) throw errors.notFound(`Request '${req.params.id}'`);
      // A streamed request: assemble what its events say so far.
      const events = await resume.snapshot(owner);
      const last = events[events.length - 1];
      const created = new Date(owner.created * 1000);
      if (!last || last.type === 'chunk') return requestObject(req.params.id, owner.model, created, 'in_progress', null, null, null);
      if (last.type === 'error') {
        return requestObject(req.params.id, owner.model, created, 'failed', new Date(), last.status, JSON.stringify({ error: last.error }));
      }
      const content = events.flatMap((e) => (e.type === 'chunk' && e.delta.content ? [e.delta.content] : [])).join('');
      const finish = 'finish_reason' in last ? last.finish_reason : null;
      const body = chatCompletionBody(completionId(req.params.id), owner.created, owner.model, {
        type: 'result',
        kind: 'chat',
        seq: last.seq,
        attempt: last.attempt,
        message: last.type === 'result' && last.kind === 'chat' ? last.message : { role: 'assistant', content },
        finish_reason: finish,
        usage: last.usage as ChatResultEvent['usage'],
        model: last.model,
        provider: last.provider,
      });
      return requestObject(req.params.id, owner.model, created, 'completed', new Date(), 200, JSON.stringify(body));
    });

    app.get<{ Params: { id: string } }>('/v1/requests/:id/events', { onRequest: authenticate }, async (req, reply) => {
      const id = req.params.id;
      const tenantId = principalOf(req).tenantId;
      const lastEventId = req.headers['last-event-id'];
      const afterSeq = lastEventId === undefined ? 0 : Number(lastEventId);
      if (!Number.isInteger(afterSeq) || afterSeq < 0) throw errors.invalidField('Last-Event-ID', 'must be a non-negative integer');
      const row = await db
        .selectFrom('async_requests')
        .selectAll()
        .where('id', '=', id)
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst();
      let view: { model: string; created: number; includeUsage: boolean; resumable: boolean; subject: string; wire?: 'anthropic' };
      if (row) {
        const subject = subjects.events(EVENT_OWNERS.async, id);
        view = { model: row.model, created: unix(row.created_at), includeUsage: false, resumable: false, subject };
      } else {
        const owner = await resume.owner(id);
        if (!owner || owner.tenantId !== tenantId) throw errors.notFound(`Request '${id}'`);
        view = { ...owner, resumable: true };
        resume.attached(id);
      }
      const writer = new ChunkWriter(completionId(id), view.created, view.model, view.includeUsage);
      // A Messages stream: every event is rendered (block indexes), those up to Last-Event-ID come out empty.
      const messages = view.wire === 'anthropic' ? new MessagesEventRenderer(`msg_${id.slice(4)}`, view.model) : null;
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        ...sseHeaders(req.id),
      });
      const sseLimits = { maxBufferedBytes: config.SSE_MAX_BUFFERED_BYTES, stuckTimeoutMs: config.SSE_STUCK_TIMEOUT_MS };
      if (lastEventId === undefined && !messages) writeSse(res, writer.delta({ role: 'assistant', content: '' }), sseLimits);
      let finished = false;
      if (row?.result) {
        // Stored result (async): outlives the events.
        finished = true;
        res.end(
          row.status_code === 200
            ? renderCompletion(writer, JSON.parse(row.result) as ChatCompletionBody, 1, afterSeq)
            : sseError(JSON.parse(row.result)),
        );
        return;
      }
      const ac = new AbortController();
      res.once('close', () => {
        if (finished) return;
        ac.abort();
        if (view.resumable) resume.detach(id);
      });
      await resume.replay(
        view,
        messages ? 0 : afterSeq,
        (ev) => {
          const out = messages ? messages.render(ev, afterSeq) : renderEvent(writer, ev, view.includeUsage, afterSeq);
          if (ev.type === 'chunk') {
            writeSse(res, out, sseLimits);
            return false;
          }
          finished = true;
          res.end(out);
          return true;
        },
        { signal: ac.signal, maxWaitMs: config.REQUEST_TIMEOUT_MS },
      );
      if (!finished && !res.destroyed) {
        finished = true;
        res.end(sseError(errors.timeout().toBody()));
      }
    });
  };

  async close(): Promise<void> {
    clearInterval(this.purgeTimer);
    await this.messages?.close().catch(() => {});
    await this.pump.catch(() => {});
  }
}

function requestObject(
  id: string,
  model: string,
  createdAt: Date,
  status: string,
  completedAt: Date | null,
  statusCode: number | null,
  result: string | null,
) {
  return {
    id,
    object: 'request' as const,
    model,
    status,
    created_at: unix(createdAt),
    completed_at: completedAt ? unix(completedAt) : null,
    response: statusCode !== null && result !== null ? { status_code: statusCode, body: JSON.parse(result) as unknown } : null,
  };
}

// ---- OpenAPI (services/ingress/openapi) ----
documentRoute('GET /v1/requests/:id', {
  summary: 'An async or streamed request: status and, once done, its result',
  tags: ['Async requests'],
  auth: 'tenant',
  responses: { 200: asyncRequestSchema },
});
documentRoute('GET /v1/requests/:id/events', {
  summary: "Resume a streamed request's SSE events after Last-Event-ID",
  tags: ['Async requests'],
  auth: 'tenant',
  headers: { 'Last-Event-ID': 'The seq of the last event received; the stream continues after it.' },
  responses: { 200: { description: 'The remaining chunks as server-sent events.', contentType: 'text/event-stream' } },
});
