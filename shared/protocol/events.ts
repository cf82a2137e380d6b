// Internal envelopes that cross NATS: what a worker tells the ingress, and what it tells the ledger.
import type { ErrorBody } from './errors.ts';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** One token of OpenAI's `choices[].logprobs.content` (or `.refusal`). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] | null }>;
}

/** OpenAI's `choices[].logprobs`: for a whole answer, or for the tokens of one chunk. */
export interface ChoiceLogprobs {
  content: TokenLogprob[] | null;
  refusal: TokenLogprob[] | null;
}

export interface ChunkDelta {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  refusal?: string;
  tool_calls?: ToolCallDelta[];
  /** Not part of OpenAI's delta: the chunk's `choices[].logprobs`, which the renderer moves beside the delta. */
  logprobs?: ChoiceLogprobs;
  /** Not part of OpenAI's delta: on the first delta only, the upstream's system_fingerprint and service_tier. */
  meta?: ResponseMeta;
}

export interface AssistantMessage {
  role: 'assistant';
  content: string | null;
  reasoning_content?: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  refusal?: string | null;
  /** URL citations of a web-search answer, as OpenAI returns them. */
  annotations?: unknown[];
}

/** A choice of a non-streamed answer after the first (a request with `n` > 1). */
export interface ExtraChoice {
  message: AssistantMessage;
  finish_reason: string | null;
  logprobs?: ChoiceLogprobs | null;
}

/** What an answer carries besides its message, relayed to the client as OpenAI documents it. */
export interface ResponseMeta {
  logprobs?: ChoiceLogprobs | null;
  system_fingerprint?: string | null;
  service_tier?: string | null;
  /** Choices 1..n-1 when the client asked for `n` > 1 (choice 0 is the event's message). */
  more_choices?: ExtraChoice[];
}

interface EventBase {
  /** Position of this event in the request's event sequence (1-based, per attempt). */
  seq: number;
  /** JetStream delivery count of the request message that produced this event. */
  attempt: number;
}

export interface ChunkEvent extends EventBase {
  type: 'chunk';
  delta: ChunkDelta;
  finish_reason?: string | null;
  /** First chunk only: the provider serving the stream and the upstream attempts so far (SSE headers). */
  provider?: string;
  attempts?: number;
  /** First chunk only: the provider endpoint is a simulator (`x-switchyard-simulated: true`). */
  simulated?: boolean;
  /** Anthropic passthrough: the upstream's own SSE frames, relayed verbatim (`delta` is then empty). */
  native?: string;
}

/** On terminal success events: `provider/model` that served (after fallbacks) and upstream attempts made. */
interface Served {
  target?: string;
  attempts?: number;
  /** The answer came from a simulator, not a real upstream (`x-switchyard-simulated: true`). */
  simulated?: boolean;
}

/** Terminal event of a stream. */
export interface DoneEvent extends EventBase, Served {
  type: 'done';
  finish_reason: string | null;
  usage: Usage;
  model: string;
  provider: string;
}

/** Terminal event of a non-streaming request: the whole answer in one message. */
export interface ChatResultEvent extends EventBase, Served {
  type: 'result';
  kind: 'chat';
  message: AssistantMessage;
  meta?: ResponseMeta;
  finish_reason: string | null;
  usage: Usage;
  model: string;
  provider: string;
  /** Anthropic passthrough: the upstream's Messages answer as it came (`message` is then empty). */
  native?: unknown;
}

export interface EmbeddingsResultEvent extends EventBase, Served {
  type: 'result';
  kind: 'embeddings';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  usage: { prompt_tokens: number; total_tokens: number };
  model: string;
  provider: string;
}

export interface ErrorEvent extends EventBase {
  type: 'error';
  status: number;
  error: ErrorBody;
  retry_after_ms?: number;
}

export type StreamEvent = ChunkEvent | DoneEvent | ChatResultEvent | EmbeddingsResultEvent | ErrorEvent;

/** One request's usage, exactly one per request id in Postgres. */
export interface UsageRecord {
  request_id: string;
  tenant_id: string;
  key_id: string | null;
  provider: string;
  model: string;
  upstream_model: string;
  kind: 'chat' | 'embeddings';
  /** `blocked`: refused by a content guardrail before it was queued (zero tokens, zero cost). */
  status: 'ok' | 'error' | 'cancelled' | 'blocked';
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_usd: number;
  attempts: number;
  error_code: string | null;
  batch_id: string | null;
  received_at: string;
  first_token_at: string | null;
  completed_at: string;
  /** Answered from the response cache (docs/caching.md); absent: false. */
  cache_hit?: boolean;
  /** W3C traceparent of the worker attempt, only while tracing is on: the ledger's span joins that trace. Not stored. */
  traceparent?: string;
}

export const EMPTY_USAGE: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before the worker stamps it with its sequence and attempt numbers. */
export type EventBody = DistributiveOmit<StreamEvent, 'seq' | 'attempt'>;
