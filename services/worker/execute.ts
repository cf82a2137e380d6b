// One target's execution of a request: build the upstream request through the adapter, send it on a
// key, translate the answer, and emit the client's events (one `result`, or `chunk`s then `done`).
// Retries go through the AttemptRunner; the target walk and the usage record are the caller's.
import { errors } from '../../shared/protocol/errors.ts';
import type { ChatCompletionRequest, EmbeddingsRequest } from '../../shared/protocol/openai.ts';
import type { ChunkDelta, EventBody, Usage } from '../../shared/protocol/events.ts';
import { AdapterError, type Endpoint, type ProviderAdapter, type StreamPart, type UpstreamRequest } from '../../shared/providers/types.ts';
import type { ImageSession } from '../../shared/providers/common/remote-images.ts';
import type { AttemptRunner, RequestProgress } from './attempts.ts';
import { translateRequest } from './request-faults.ts';
import type { UpstreamResponse } from './upstream.ts';
import { STREAMING_DECODE } from './upstream-body.ts';

/** The upstream key a call goes out on (upstream-keys.ts): its credentials and its limiters. */
export interface UpstreamKeyLike {
  endpoint(base: Endpoint): Endpoint;
  send(
    up: UpstreamRequest,
    model: string,
    signal: AbortSignal,
    timeoutMs: number,
    estTokens: number,
    canQueue?: boolean,
  ): Promise<UpstreamResponse>;
}

export interface ExecutionDeps {
  keys: { pick(provider: string, model: string): UpstreamKeyLike };
  images: { session(signal?: AbortSignal): ImageSession };
  attempts: Pick<AttemptRunner, 'run' | 'timeoutFor'>;
}

export interface ExecutionTarget {
  adapter: ProviderAdapter;
  endpoint: Endpoint & { simulated?: boolean };
  /** Upstream model name. */
  model: string;
}

export interface ExecutionOutcome {
  usage: Usage;
  firstTokenAt: number | null;
}

/** What a failed stream had already used, for its usage record. */
export type PartialUsageError = Error & { partialUsage?: Usage };

export type Emit = (ev: EventBody) => void;

export async function runChat(
  deps: ExecutionDeps,
  target: ExecutionTarget,
  body: ChatCompletionRequest,
  job: RequestProgress,
  emit: Emit,
): Promise<ExecutionOutcome> {
  const { adapter, endpoint, model } = target;
  const result = await deps.attempts.run(
    job,
    async () => {
      const res = await callUpstream(deps, target, job, (ep) =>
        translateRequest(adapter.name, () =>
          adapter.buildChatRequest(ep, model, body, false, { images: deps.images.session(job.abort.signal) }),
        ),
      );
      return adapter.parseChatResponse(JSON.parse(await res.body.text()), model);
    },
    () => true,
  );
  emit({
    type: 'result',
    kind: 'chat',
    message: result.message,
    ...(result.meta && { meta: result.meta }),
    finish_reason: result.finish_reason,
    usage: result.usage,
    model: result.model,
    provider: adapter.name,
    target: job.target,
    attempts: job.attempts,
    ...simulatedFlag(endpoint),
  });
  return { usage: result.usage, firstTokenAt: Date.now() };
}

export async function runEmbeddings(
  deps: ExecutionDeps,
  target: ExecutionTarget,
  body: EmbeddingsRequest,
  job: RequestProgress,
  emit: Emit,
): Promise<ExecutionOutcome> {
  const { adapter, endpoint, model } = target;
  if (!adapter.supportsEmbeddings) throw AdapterError.from(errors.noEmbeddings(adapter.name));
  const result = await deps.attempts.run(
    job,
    async () => {
      const res = await callUpstream(deps, target, job, (ep) =>
        translateRequest(adapter.name, () => adapter.buildEmbeddingsRequest(ep, model, body)),
      );
      return adapter.parseEmbeddingsResponse(JSON.parse(await res.body.text()), model, body);
    },
    () => true,
  );
  emit({
    type: 'result',
    kind: 'embeddings',
    data: result.data,
    usage: result.usage,
    model: result.model,
    provider: adapter.name,
    target: job.target,
    attempts: job.attempts,
    ...simulatedFlag(endpoint),
  });
  const u: Usage = { prompt_tokens: result.usage.prompt_tokens, completion_tokens: 0, total_tokens: result.usage.total_tokens };
  return { usage: u, firstTokenAt: Date.now() };
}

/** A failure carries `partialUsage` (what was streamed before it) for the usage record. */
export async function runStream(
  deps: ExecutionDeps,
  target: ExecutionTarget,
  body: ChatCompletionRequest,
  job: RequestProgress,
  emit: Emit,
): Promise<ExecutionOutcome> {
  const { adapter, endpoint, model } = target;
  let firstTokenAt: number | null = null;
  let usageSeen: Usage | null = null;
  let finish: string | null = null;
  let chunks = 0;
  try {
    await deps.attempts.run(
      job,
      async () => {
        const res = await callUpstream(deps, target, job, (ep) =>
          translateRequest(adapter.name, () =>
            adapter.buildChatRequest(ep, model, body, true, { images: deps.images.session(job.abort.signal) }),
          ),
        );
        const translator = adapter.createStreamTranslator(model);
        const take = (parts: StreamPart[]) => {
          // Text of one read (all the body buffered since the worker last looked, upstream-body.ts)
          // is relayed as one chunk: a NATS message per
          // token is the main cost of streaming, and the client sees the same text either way.
          let pending: ChunkDelta | null = null;
          const flush = () => {
            if (!pending) return;
            if (firstTokenAt === null) {
              firstTokenAt = Date.now();
              job.spoke = true; // no fallback from here on
              emit({ type: 'chunk', delta: pending, provider: adapter.name, attempts: job.attempts, ...simulatedFlag(endpoint) });
            } else emit({ type: 'chunk', delta: pending });
            pending = null;
          };
          for (const part of parts) {
            if (part.type === 'delta') {
              chunks++;
              if (pending && canMerge(pending, part.delta)) {
                if (part.delta.content !== undefined) pending.content += part.delta.content;
                if (part.delta.reasoning_content !== undefined) pending.reasoning_content += part.delta.reasoning_content;
              } else {
                flush();
                pending = { ...part.delta };
              }
            } else {
              flush();
              if (part.type === 'finish') finish = part.finish_reason;
              else if (part.type === 'usage') usageSeen = part.usage;
              else throw new AdapterError(part.error);
            }
          }
          flush();
        };
        await readStream(res, job, (text) => take(translator.push(text)));
        take(translator.end());
      },
      // Never retry once the client has seen a token: it would get the answer twice.
      () => chunks === 0,
    );
  } catch (err) {
    (err as PartialUsageError).partialUsage = usageSeen ?? { prompt_tokens: 0, completion_tokens: chunks, total_tokens: chunks };
    throw err;
  }
  const u: Usage = usageSeen ?? { prompt_tokens: 0, completion_tokens: chunks, total_tokens: chunks };
  emitDone(emit, target, job, finish, u);
  return { usage: u, firstTokenAt };
}

/**
 * One call on a key picked for the target: `build` makes the upstream request for that key's
 * endpoint. An error status becomes the adapter's reading of the upstream's error body.
 */
export async function callUpstream(
  deps: ExecutionDeps,
  target: ExecutionTarget,
  job: RequestProgress,
  build: (endpoint: Endpoint) => UpstreamRequest | Promise<UpstreamRequest>,
): Promise<UpstreamResponse> {
  const { adapter, endpoint, model } = target;
  const key = deps.keys.pick(adapter.name, model);
  const up = await build(key.endpoint(endpoint));
  const res = await key.send(up, model, job.abort.signal, deps.attempts.timeoutFor(job), job.estTokens, !job.hasFallback);
  if (res.status >= 400) throw new AdapterError(adapter.parseError(res.status, await res.body.text(), res.headers));
  return res;
}

/**
 * A streamed body as text, one `onText` per upstream read. A broken connection is the retryable
 * upstreamStreamBroken; an AdapterError thrown by `onText`, or any failure once cancelled, as it is.
 */
export async function readStream(res: UpstreamResponse, job: RequestProgress, onText: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  try {
    await res.body.forEachRead((buf) => onText(decoder.decode(buf, STREAMING_DECODE)));
  } catch (err) {
    if (err instanceof AdapterError || job.cancelled) throw err;
    throw AdapterError.from(errors.upstreamStreamBroken((err as Error).message), true);
  }
}

/** A stream's last event: how it finished and what it used. */
export function emitDone(emit: Emit, target: ExecutionTarget, job: RequestProgress, finish: string | null, usage: Usage): void {
  emit({
    type: 'done',
    finish_reason: finish ?? 'stop',
    usage,
    model: target.model,
    provider: target.adapter.name,
    target: job.target,
    attempts: job.attempts,
    ...simulatedFlag(target.endpoint),
  });
}

/** Marks events of a simulated endpoint; absent otherwise, so real answers carry no extra bytes. */
export function simulatedFlag(endpoint: { simulated?: boolean }): { simulated?: true } {
  return endpoint.simulated ? { simulated: true } : {};
}

/** Two text deltas of the same kind (content, reasoning) concatenate; tool-call deltas never merge. */
export function canMerge(a: ChunkDelta, b: ChunkDelta): boolean {
  return (
    !a.tool_calls &&
    !b.tool_calls &&
    // A refusal or per-token logprobs stay in their own chunk (only content and reasoning are joined).
    a.refusal === undefined &&
    b.refusal === undefined &&
    !a.logprobs &&
    !b.logprobs &&
    !a.role &&
    !b.role &&
    (a.content === undefined) === (b.content === undefined) &&
    (a.reasoning_content === undefined) === (b.reasoning_content === undefined)
  );
}
