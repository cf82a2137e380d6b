// Legacy OpenAI `POST /v1/completions`, served through chat (shared/protocol/completions.ts): each
// prompt is published as a chat request, and the worker's events are rendered back in the legacy
// `text_completion` shape, as JSON or as `text_completion` SSE chunks ending with `[DONE]`.
// Each prompt goes through the shared request dispatch under an id of its own; no resume, no cache.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { documentRoute } from '../openapi/registry.ts';
import type { SwitchyardConfig } from '../../../shared/config/env.ts';
import { assertRouteConfigured } from '../../../shared/config/providers.ts';
import { assertCompletionMappable, chatBodyForPrompt, completionRequestSchema, promptsOf } from '../../../shared/protocol/completions.ts';
import { ApiError } from '../../../shared/protocol/errors.ts';
import type { StreamEvent, Usage } from '../../../shared/protocol/events.ts';
import { validate } from '../../../shared/protocol/request-errors.ts';
import type { IngressGuardrails } from '../guardrails.ts';
import { assertModelAllowed } from '../model-policy.ts';
import { principalOf } from '../principal.ts';
import { SSE_DONE, sseError } from '../render.ts';
import { resolveRoute, type Route } from '../routing.ts';
import { writeSse } from '../sse-backpressure.ts';
import { SIMULATED_HEADER, SseHead } from '../answer-headers.ts';
import { AttemptLock } from '../attempt-lock.ts';
import type { Dispatch } from '../request-dispatch.ts';

export interface CompletionRoutesOptions {
  config: SwitchyardConfig;
  /** Admission, publish and events back (services/ingress/request-dispatch.ts). */
  dispatch: Dispatch;
  authenticate: (req: FastifyRequest) => Promise<void>;
  guardrails: IngressGuardrails;
}

interface PromptRun {
  requestId: string;
  route: Route;
  publicModel: string;
  body: Record<string, unknown>;
  stream: boolean;
  /** Streams only: every event; return true when the answer is finished. */
  onStreamEvent?: (ev: StreamEvent) => boolean;
  /** Content guardrails the worker applies to the answer. */
  guardrails?: readonly string[];
}

export const completionRoutes: FastifyPluginAsync<CompletionRoutesOptions> = async (app, opts) => {
  const { config, dispatch, authenticate, guardrails } = opts;
  const sseLimits = { maxBufferedBytes: config.SSE_MAX_BUFFERED_BYTES, stuckTimeoutMs: config.SSE_STUCK_TIMEOUT_MS };

  app.post('/v1/completions', { onRequest: authenticate }, async (req, reply) => {
    if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body))
      throw new ApiError(400, 'The request body must be a JSON object.', { code: 'invalid_json' });
    const body = validate(completionRequestSchema, req.body);
    assertCompletionMappable(body);
    assertModelAllowed(principalOf(req), body.model);
    const route = resolveRoute(body.model, config.DEFAULT_PROVIDER, config.file);
    assertRouteConfigured(config, route.targets ?? [route]);
    const id = `cmpl-${req.id.slice(4)}`;
    const created = Math.floor(Date.now() / 1000);
    const prompts = promptsOf(body);
    // A stream answers the first prompt only (assertCompletionMappable refuses more).
    const jobs: Array<Omit<PromptRun, 'stream' | 'onStreamEvent'>> = (body.stream === true ? prompts.slice(0, 1) : prompts).map(
      (prompt, i) => ({
        requestId: i === 0 ? req.id : `${req.id}_${i}`,
        route,
        publicModel: body.model,
        body: chatBodyForPrompt(body, prompt),
      }),
    );
    // Every prompt passes its guardrails before any is queued; each refusal is recorded under its own id.
    const checking = jobs.map((job) => guardrails.guard(req, reply, job.body, body.model, route, { requestId: job.requestId }));
    if (checking[0]) {
      const checked = await Promise.all(checking);
      jobs.forEach((job, i) => {
        job.body = checked[i]!.masked ?? job.body;
        job.guardrails = checked[i]!.workerGuardrails;
      });
    }

    if (body.stream !== true) {
      // One chat request per prompt, in parallel; choice i answers prompt i.
      const results = await Promise.all(jobs.map((job) => run(req, reply, { ...job, stream: false })));
      const usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
      const choices = results.map((ev, index) => {
        if (ev.type !== 'result' || ev.kind !== 'chat')
          throw new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' });
        usage.prompt_tokens += ev.usage.prompt_tokens;
        usage.completion_tokens += ev.usage.completion_tokens;
        usage.total_tokens += ev.usage.total_tokens;
        return { text: ev.message.content ?? '', index, logprobs: null, finish_reason: ev.finish_reason ?? 'stop' };
      });
      const first = results[0]!;
      if (first.type === 'result') {
        reply.header('x-switchyard-provider', first.provider);
        if (first.simulated) reply.header(SIMULATED_HEADER, 'true');
      }
      return { id, object: 'text_completion', created, model: body.model, choices, usage, system_fingerprint: null };
    }

    const includeUsage = body.stream_options?.include_usage === true;
    const head = `data: {"id":${JSON.stringify(id)},"object":"text_completion","created":${created},"model":${JSON.stringify(body.model)},`;
    const chunk = (text: string, finish: string | null) =>
      `${head}"choices":[{"text":${JSON.stringify(text)},"index":0,"logprobs":null,"finish_reason":${JSON.stringify(finish)}}]${includeUsage ? ',"usage":null' : ''}}\n\n`;
    const usageChunk = (u: Usage) => `${head}"choices":[],"usage":${JSON.stringify(u)}}\n\n`;
    const res = reply.raw;
    const write = (frame: string) => writeSse(res, frame, sseLimits);
    const sse = new SseHead(req, reply);
    const attempts = new AttemptLock();
    await run(req, reply, {
      ...jobs[0]!,
      stream: true,
      onStreamEvent: (received) => {
        // One attempt speaks to the client (see chat.ts): a redelivered one may only end it with an error.
        const ev = attempts.admit(received);
        if (!ev) return false;
        if (ev.type === 'chunk') {
          sse.open(ev);
          if (ev.delta.content) write(chunk(ev.delta.content, null));
          return false;
        }
        if (ev.type === 'done') {
          sse.open(ev);
          res.end(chunk('', ev.finish_reason ?? 'stop') + (includeUsage ? usageChunk(ev.usage) : '') + SSE_DONE);
          return true;
        }
        if (ev.type === 'error') {
          if (sse.opened) res.end(sseError({ error: ev.error }));
          return true;
        }
        return false;
      },
    });
  });

  /** Admits and publishes one prompt's chat request; resolves with its terminal event or throws its error as HTTP. */
  function run(req: FastifyRequest, reply: FastifyReply, job: PromptRun): Promise<StreamEvent> {
    return dispatch({
      req,
      reply,
      kind: 'chat',
      route: job.route,
      publicModel: job.publicModel,
      stream: job.stream,
      requestId: job.requestId,
      body: Buffer.from(JSON.stringify(job.body)),
      admissionBody: job.body,
      onStreamEvent: job.onStreamEvent,
      guardrails: job.guardrails,
    });
  }
};

// ---- API reference (services/ingress/openapi) ----
documentRoute('POST /v1/completions', {
  summary: 'Create a completion (legacy; served through chat for every provider)',
  tags: ['OpenAI'],
  auth: 'tenant',
  body: completionRequestSchema,
  responses: {
    200: {
      description: 'A text_completion; with `stream: true` a text/event-stream of text_completion chunks.',
      schema: z.looseObject({
        id: z.string(),
        object: z.literal('text_completion'),
        created: z.number().int(),
        model: z.string(),
        choices: z.array(z.looseObject({ text: z.string(), index: z.number().int(), finish_reason: z.string().nullable() })),
      }),
    },
  },
});
