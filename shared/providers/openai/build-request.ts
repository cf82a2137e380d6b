import type { ChatCompletionRequest, EmbeddingsRequest } from '../../protocol/openai.ts';
import type { Endpoint, UpstreamRequest } from '../types.ts';

function authHeaders(endpoint: Endpoint): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (endpoint.apiKey) h.authorization = `Bearer ${endpoint.apiKey}`;
  return h;
}

/** The client already speaks this dialect: forward its body, only swapping the model name. */
export function buildOpenAIChatRequest(endpoint: Endpoint, model: string, req: ChatCompletionRequest, stream: boolean): UpstreamRequest {
  const body: Record<string, unknown> = { ...req, model, stream };
  if (stream) {
    // Always ask for usage: the ledger needs it even when the client did not ask to see it.
    body.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
  } else {
    delete body.stream_options;
  }
  const headers = authHeaders(endpoint);
  if (stream) headers.accept = 'text/event-stream';
  return { url: `${endpoint.baseUrl}/chat/completions`, headers, body: JSON.stringify(body) };
}

export function buildOpenAIEmbeddingsRequest(endpoint: Endpoint, model: string, req: EmbeddingsRequest): UpstreamRequest {
  return { url: `${endpoint.baseUrl}/embeddings`, headers: authHeaders(endpoint), body: JSON.stringify({ ...req, model }) };
}
