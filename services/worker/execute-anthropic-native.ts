// An Anthropic Messages request (POST /v1/messages) served by an Anthropic target: the client's body
// goes upstream as it came, only `model` rewritten, and the upstream's answer comes back as it came
// (cache_control, thinking signatures and block types we do not know all survive). The Anthropic
// adapter still reads the answer alongside, for usage, the stop reason and mid-stream errors.
import { createParser } from 'eventsource-parser';
import type { Usage } from '../../shared/protocol/events.ts';
import { ANTHROPIC_VERSION } from '../../shared/providers/anthropic/build-request.ts';
import { AdapterError, type Endpoint, type StreamPart, type UpstreamRequest } from '../../shared/providers/types.ts';
import type { RequestProgress } from './attempts.ts';
import {
  callUpstream,
  emitDone,
  readStream,
  simulatedFlag,
  type Emit,
  type ExecutionDeps,
  type ExecutionOutcome,
  type ExecutionTarget,
  type PartialUsageError,
} from './execute.ts';

/** The client's Messages body for one upstream model; every other field is kept byte-for-byte in meaning. */
export function nativeAnthropicRequest(
  endpoint: Endpoint,
  model: string,
  body: Record<string, unknown>,
  stream: boolean,
  anthropicBeta?: string,
): UpstreamRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    'anthropic-version': ANTHROPIC_VERSION,
  };
  if (anthropicBeta) headers['anthropic-beta'] = anthropicBeta;
  if (endpoint.apiKey) headers['x-api-key'] = endpoint.apiKey;
  return { url: `${endpoint.baseUrl}/v1/messages`, headers, body: JSON.stringify({ ...body, model }) };
}

export async function runAnthropicNativeChat(
  deps: ExecutionDeps,
  target: ExecutionTarget,
  body: Record<string, unknown>,
  anthropicBeta: string | undefined,
  job: RequestProgress,
  emit: Emit,
): Promise<ExecutionOutcome> {
  const { adapter, endpoint, model } = target;
  const { native, parsed } = await deps.attempts.run(
    job,
    async () => {
      const res = await callUpstream(deps, target, job, (ep) => nativeAnthropicRequest(ep, model, body, false, anthropicBeta));
      const json: unknown = JSON.parse(await res.body.text());
      return { native: json, parsed: adapter.parseChatResponse(json, model) };
    },
    () => true,
  );
  emit({
    type: 'result',
    kind: 'chat',
    // The client reads `native`; the normalized message would only double the event's size.
    message: { role: 'assistant', content: null },
    native,
    finish_reason: parsed.finish_reason,
    usage: parsed.usage,
    model: parsed.model,
    provider: adapter.name,
    target: job.target,
    attempts: job.attempts,
    ...simulatedFlag(endpoint),
  });
  return { usage: parsed.usage, firstTokenAt: Date.now() };
}

/** A failure carries `partialUsage` (what was streamed before it) for the usage record. */
export async function runAnthropicNativeStream(
  deps: ExecutionDeps,
  target: ExecutionTarget,
  body: Record<string, unknown>,
  anthropicBeta: string | undefined,
  job: RequestProgress,
  emit: Emit,
): Promise<ExecutionOutcome> {
  const { adapter, endpoint, model } = target;
  let firstTokenAt: number | null = null;
  let usageSeen: Usage | null = null;
  let finish: string | null = null;
  let relayed = 0;
  try {
    await deps.attempts.run(
      job,
      async () => {
        const res = await callUpstream(deps, target, job, (ep) => nativeAnthropicRequest(ep, model, body, true, anthropicBeta));
        const translator = adapter.createStreamTranslator(model);
        // Whole SSE events, re-framed without Anthropic's padding; an `error` event is not relayed:
        // the translator turns it into the request's error, which the ingress renders once.
        let frames = '';
        const relay = createParser({
          onEvent: (ev) => {
            // A multi-line data field goes out as several data lines again.
            if (ev.event !== 'error')
              frames += `event: ${ev.event ?? 'message'}\ndata: ${ev.data.trimEnd().replaceAll('\n', '\ndata: ')}\n\n`;
          },
        });
        const take = (parts: StreamPart[]) => {
          if (frames) {
            relayed++;
            // Frames of one upstream read travel as one event: a NATS message per token is the main cost.
            if (firstTokenAt === null) {
              firstTokenAt = Date.now();
              job.spoke = true; // no fallback from here on
              emit({
                type: 'chunk',
                delta: {},
                native: frames,
                provider: adapter.name,
                attempts: job.attempts,
                ...simulatedFlag(endpoint),
              });
            } else emit({ type: 'chunk', delta: {}, native: frames });
            frames = '';
          }
          for (const part of parts) {
            if (part.type === 'finish') finish = part.finish_reason;
            else if (part.type === 'usage') usageSeen = part.usage;
            else if (part.type === 'error') throw new AdapterError(part.error);
          }
        };
        await readStream(res, job, (text) => {
          relay.feed(text);
          const parts = translator.push(text);
          // An error event ends the stream: what preceded it in this read is still the client's.
          take(parts);
        });
        take(translator.end());
      },
      // Never retry once the client has seen an event: it would get the answer twice.
      () => relayed === 0,
    );
  } catch (err) {
    (err as PartialUsageError).partialUsage = usageSeen ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    throw err;
  }
  const u: Usage = usageSeen ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  emitDone(emit, target, job, finish, u);
  return { usage: u, firstTokenAt };
}
