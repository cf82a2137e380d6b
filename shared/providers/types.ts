// The one interface every provider adapter implements. Adding a provider = one folder + one line in
// ./registry.ts. Adapters are pure translation: no I/O, no retries (the worker owns those).
import type { ChatCompletionRequest, EmbeddingsRequest } from '../protocol/openai.ts';
import type { AssistantMessage, ChunkDelta, ResponseMeta, Usage } from '../protocol/events.ts';
import type { ApiError, ErrorBody } from '../protocol/errors.ts';
import type { ImageSession } from './common/remote-images.ts';

export interface Endpoint {
  baseUrl: string;
  apiKey: string | undefined;
}

export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface ChatResult {
  message: AssistantMessage;
  finish_reason: string | null;
  usage: Usage;
  model: string;
  /** Logprobs, system_fingerprint, service_tier: set only when the upstream returned them. */
  meta?: ResponseMeta;
}

export interface EmbeddingsResult {
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  usage: { prompt_tokens: number; total_tokens: number };
  model: string;
}

/** What a stream translator hands the worker, in order. */
export type StreamPart =
  | { type: 'delta'; delta: ChunkDelta }
  | { type: 'finish'; finish_reason: string }
  | { type: 'usage'; usage: Usage }
  | { type: 'error'; error: UpstreamError };

export interface StreamTranslator {
  /** Feed raw upstream text as it arrives; returns the parts it completed. */
  push(text: string): StreamPart[];
  /** The upstream body ended; returns any trailing parts (or an error if the stream was cut short). */
  end(): StreamPart[];
}

export interface UpstreamError {
  status: number;
  error: ErrorBody;
  /** A retry hint from the upstream (retry-after, retry-after-ms, Gemini retryDelay). */
  retryAfterMs?: number;
  /** Retrying the same request may succeed (rate limit, overload, 5xx). */
  retryable: boolean;
}

/**
 * The one error a request fails with inside a worker: thrown by an adapter when the request cannot be
 * translated (bad image URL, image too large), by the worker for an upstream error answer, a broken
 * stream or a target that cannot serve. The worker reports `upstream` to the client as is.
 */
export class AdapterError extends Error {
  readonly upstream: UpstreamError;
  constructor(upstream: UpstreamError) {
    super(upstream.error.message);
    this.upstream = upstream;
  }

  /** An error of the catalog (shared/protocol/errors.ts) as an upstream failure. */
  static from(error: ApiError, retryable = false): AdapterError {
    return new AdapterError(upstreamFailure(error, retryable));
  }
}

export function upstreamFailure(error: ApiError, retryable = false): UpstreamError {
  return { status: error.status, retryable, error: error.toBody().error };
}

/** What a chat request needs beyond its body: the request's image-fetch session (caps, cancellation). */
export interface BuildOptions {
  images?: ImageSession;
}

export interface ProviderAdapter {
  readonly name: string;
  readonly supportsEmbeddings: boolean;
  /** May be async: some providers need remote images fetched and inlined. */
  buildChatRequest(
    endpoint: Endpoint,
    model: string,
    req: ChatCompletionRequest,
    stream: boolean,
    opts?: BuildOptions,
  ): UpstreamRequest | Promise<UpstreamRequest>;
  parseChatResponse(body: unknown, model: string): ChatResult;
  createStreamTranslator(model: string): StreamTranslator;
  buildEmbeddingsRequest(endpoint: Endpoint, model: string, req: EmbeddingsRequest): UpstreamRequest;
  /** `req` tells adapters of providers that only return floats whether the client wants base64. */
  parseEmbeddingsResponse(body: unknown, model: string, req?: EmbeddingsRequest): EmbeddingsResult;
  /** Turns a non-2xx upstream answer into the OpenAI error envelope with a fitting status. */
  parseError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError;
}
