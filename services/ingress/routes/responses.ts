// The OpenAI Responses API (`POST /v1/responses`, `GET|DELETE /v1/responses/{id}`) for every provider.
// A Responses request is translated into a chat completion (shared/protocol/responses/to-chat.ts)
// and travels the one internal path: same admission, dispatcher, queue, worker and ledger as
// /v1/chat/completions. Only the edges differ: the answer is rendered as a `response` object or its
// typed SSE events, and finished responses are stored (per tenant) for GET and previous_response_id.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { SwitchyardConfig } from '../../../shared/config/env.ts';
import { assertRouteConfigured } from '../../../shared/config/providers.ts';
import type { Db } from '../../../shared/db/database.ts';
import { deleteResponse, findResponse, purgeExpiredResponses, saveResponse } from '../../../shared/db/responses.ts';
import type { StreamEvent } from '../../../shared/protocol/events.ts';
import { ApiError, errors } from '../../../shared/protocol/errors.ts';
import type { ChatMessage } from '../../../shared/protocol/openai.ts';
import { parseResponsesRequest, responsesRequestSchema } from '../../../shared/protocol/responses/request.ts';
import { z } from 'zod';
import { documentRoute } from '../openapi/registry.ts';
import {
  assistantTurn,
  outputItems,
  responseObject,
  statusOf,
  type ResponseHead,
  type ResponseObject,
} from '../../../shared/protocol/responses/response-object.ts';
import { ResponseStream } from '../../../shared/protocol/responses/stream.ts';
import { inputToMessages, toChatRequest } from '../../../shared/protocol/responses/to-chat.ts';
import type { IngressGuardrails } from '../guardrails.ts';
import { assertModelAllowed } from '../model-policy.ts';
import { principalOf } from '../principal.ts';
import { resolveRoute as resolveModelRoute } from '../routing.ts';
import { writeSse } from '../sse-backpressure.ts';
import { SseHead, setAnsweredBy } from '../answer-headers.ts';
import { AttemptLock } from '../attempt-lock.ts';
import type { Dispatch } from '../request-dispatch.ts';

export interface ResponsesRoutesOptions {
  config: SwitchyardConfig;
  db: Db;
  /** Admission, publish and events back (services/ingress/request-dispatch.ts). */
  dispatch: Dispatch;
  authenticate: (req: FastifyRequest) => Promise<void>;
  guardrails: IngressGuardrails;
}

/** How often an ingress deletes expired responses (reads already hide them the moment they expire). */
const PURGE_INTERVAL_MS = 60_000;

export const responsesRoutes: FastifyPluginAsync<ResponsesRoutesOptions> = async (app, opts) => {
  const { config, db, dispatch, authenticate, guardrails } = opts;
  const sseLimits = { maxBufferedBytes: config.SSE_MAX_BUFFERED_BYTES, stuckTimeoutMs: config.SSE_STUCK_TIMEOUT_MS };
  const purgeTimer = setInterval(() => {
    purgeExpiredResponses(db).catch((err: unknown) => app.log.warn({ err: String(err) }, 'purging expired responses failed'));
  }, PURGE_INTERVAL_MS);
  purgeTimer.unref();
  app.addHook('onClose', async () => clearInterval(purgeTimer));

  app.post('/v1/responses', { onRequest: authenticate }, async (req, reply) => {
    if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      throw new ApiError(400, 'The request body must be a JSON object.', { code: 'invalid_json' });
    }
    const request = parseResponsesRequest(req.body);
    const principal = principalOf(req);
    assertModelAllowed(principal, request.model);
    const route = resolveModelRoute(request.model, config.DEFAULT_PROVIDER, config.file);
    assertRouteConfigured(config, route.targets ?? [route]);

    let history: ChatMessage[] = [];
    if (request.previous_response_id) {
      const previous = await findResponse(db, principal.tenantId, request.previous_response_id);
      if (!previous) throw errors.previousResponseNotFound(request.previous_response_id);
      history = previous.conversation;
    }
    const input = inputToMessages(request.input);
    if (history.length + input.length === 0) throw errors.invalidField('input', 'expected at least one input item.');
    // Guardrails read the chat body that is queued (history included): that is what the upstream sees.
    let chat: object = toChatRequest(request, history, input);
    const checking = guardrails.guard(req, reply, chat as Record<string, unknown>, request.model, route);
    const checked = checking && (await checking);
    if (checked?.masked) chat = checked.masked;
    const head: ResponseHead = { id: `resp_${req.id.slice(4)}`, created_at: Math.floor(Date.now() / 1000), model: request.model, request };
    // Stored before the client sees the end, so a chained request sent right after finds it.
    const remember = async (response: ResponseObject) => {
      if (request.store === false || response.status === 'failed') return;
      const turn = assistantTurn(response.output);
      const conversation = turn ? [...history, ...input, turn as ChatMessage] : [...history, ...input];
      try {
        await saveResponse(db, {
          id: head.id,
          tenantId: principal.tenantId,
          body: response,
          conversation,
          retentionSeconds: config.RESPONSES_RETENTION_SECONDS,
        });
      } catch (err) {
        // A response that cannot be chained or retrieved is not reported as a success.
        req.log.error({ err, reqId: req.id }, 'storing a response failed');
        throw errors.responseNotStored();
      }
    };
    const job = {
      req,
      reply,
      kind: 'chat' as const,
      route,
      publicModel: request.model,
      body: Buffer.from(JSON.stringify(chat)), // the translation is queued, not the client's Responses body
      admissionBody: chat,
      guardrails: checked?.workerGuardrails,
    };

    if (request.stream !== true) {
      const ev = await dispatch({ ...job, stream: false });
      if (ev.type !== 'result' || ev.kind !== 'chat') {
        throw new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' });
      }
      const { status, incomplete_details } = statusOf(ev.finish_reason);
      const output = outputItems(ev.message, status === 'completed' ? 'completed' : 'incomplete');
      const response = responseObject(head, { status, output, usage: ev.usage, incomplete_details });
      await remember(response);
      setAnsweredBy(reply, ev);
      return response;
    }

    const events = new ResponseStream(head);
    const res = reply.raw;
    const write = (frame: string) => writeSse(res, frame, sseLimits);
    const sse = new SseHead(req, reply);
    const attempts = new AttemptLock();
    const start = (ev: StreamEvent) => {
      if (sse.open(ev)) write(events.start());
    };
    const end = async (ev: Extract<StreamEvent, { type: 'done' }>) => {
      const { frames, response } = events.finish(ev);
      try {
        await remember(response);
        res.end(frames);
      } catch (err) {
        const error = err instanceof ApiError ? err : errors.responseNotStored();
        res.end(events.fail(error.toBody().error));
      }
    };
    await dispatch({
      ...job,
      stream: true, // not resumable: a Responses stream that loses its client is cancelled
      streamTimeoutFrames: () => events.fail(errors.timeout().toBody().error),
      onStreamEvent: (received) => {
        // As on the chat route: once one attempt's tokens are out, no other attempt may speak.
        const ev = attempts.admit(received);
        if (!ev) return false;
        if (ev.type === 'chunk') {
          start(ev);
          write(events.delta(ev.delta));
          return false;
        }
        if (ev.type === 'done') {
          start(ev);
          void end(ev);
          return true;
        }
        if (ev.type === 'error') {
          if (!sse.opened) return true; // nothing sent yet: a plain HTTP error
          res.end(events.fail(ev.error));
          return true;
        }
        return false;
      },
    });
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>(
    '/v1/responses/:id',
    { onRequest: authenticate },
    async (req) => {
      // Replaying a stored response as events needs its event log, which only background responses have.
      if (req.query.stream === 'true') throw errors.featureNotServed('stream', 'stored responses are returned as JSON only');
      const found = await findResponse(db, principalOf(req).tenantId, req.params.id);
      if (!found) throw errors.responseNotFound(req.params.id);
      return found.body;
    },
  );

  app.delete<{ Params: { id: string } }>('/v1/responses/:id', { onRequest: authenticate }, async (req) => {
    if (!(await deleteResponse(db, principalOf(req).tenantId, req.params.id))) throw errors.responseNotFound(req.params.id);
    return { id: req.params.id, object: 'response', deleted: true };
  });
};

// ---- API reference (services/ingress/openapi) ----
const responseObjectSchema = z.looseObject({
  id: z.string(),
  object: z.literal('response'),
  created_at: z.number().int(),
  status: z.string(),
  model: z.string(),
  output: z.array(z.looseObject({ type: z.string() })),
  usage: z.looseObject({ input_tokens: z.number().int(), output_tokens: z.number().int(), total_tokens: z.number().int() }).nullable(),
});
documentRoute('POST /v1/responses', {
  summary: 'Create a response (OpenAI Responses API; JSON, or typed SSE events with `stream: true`)',
  tags: ['OpenAI'],
  auth: 'tenant',
  body: responsesRequestSchema,
  responses: {
    200: { description: 'The response; with `stream: true` a text/event-stream of typed events.', schema: responseObjectSchema },
  },
});
documentRoute('GET /v1/responses/:id', {
  summary: 'Retrieve a stored response',
  tags: ['OpenAI'],
  auth: 'tenant',
  responses: { 200: responseObjectSchema },
});
documentRoute('DELETE /v1/responses/:id', {
  summary: 'Delete a stored response',
  tags: ['OpenAI'],
  auth: 'tenant',
  responses: { 200: z.object({ id: z.string(), object: z.literal('response'), deleted: z.boolean() }) },
});
