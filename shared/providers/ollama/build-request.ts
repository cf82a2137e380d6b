// OpenAI Chat Completions request -> Ollama native `POST /api/chat` (and `/api/embed`).
import type { ChatCompletionRequest, EmbeddingsRequest } from '../../protocol/openai.ts';
import type { BuildOptions, Endpoint, UpstreamRequest } from '../types.ts';
import { embeddingInputs } from '../common/embeddings.ts';
import { convertToOllamaMessages } from './convert-messages.ts';

function headers(endpoint: Endpoint, stream: boolean): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'application/x-ndjson' : 'application/json' };
  // Local Ollama needs no key; Ollama's cloud takes a bearer token.
  if (endpoint.apiKey) h.authorization = `Bearer ${endpoint.apiKey}`;
  return h;
}

/** gpt-oss takes a level; other thinking models only on/off. */
export function thinkValue(model: string, effort: string): boolean | 'low' | 'medium' | 'high' {
  if (effort === 'none') return false;
  if (!/gpt-oss/.test(model)) return true;
  return effort === 'minimal' || effort === 'low' ? 'low' : effort === 'medium' ? 'medium' : 'high';
}

export async function buildOllamaChatRequest(
  endpoint: Endpoint,
  model: string,
  req: ChatCompletionRequest,
  stream: boolean,
  opts: BuildOptions = {},
): Promise<UpstreamRequest> {
  const body: Record<string, unknown> = { model, messages: await convertToOllamaMessages(req.messages, opts.images), stream };
  const options: Record<string, unknown> = {};
  const maxTokens = req.max_completion_tokens ?? req.max_tokens;
  if (maxTokens) options.num_predict = maxTokens;
  if (req.temperature !== null && req.temperature !== undefined) options.temperature = req.temperature;
  if (req.top_p !== null && req.top_p !== undefined) options.top_p = req.top_p;
  if (req.seed !== null && req.seed !== undefined) options.seed = req.seed;
  if (req.stop) options.stop = Array.isArray(req.stop) ? req.stop : [req.stop];
  if (req.presence_penalty) options.presence_penalty = req.presence_penalty;
  if (req.frequency_penalty) options.frequency_penalty = req.frequency_penalty;
  if (Object.keys(options).length) body.options = options;
  const rf = req.response_format;
  if (rf?.type === 'json_object') body.format = 'json';
  else if (rf?.type === 'json_schema') body.format = rf.json_schema.schema ?? 'json';
  if (req.reasoning_effort) body.think = thinkValue(model, req.reasoning_effort);
  // Asking for top alternatives asks for log probabilities too, as with OpenAI.
  if (req.logprobs === true || req.top_logprobs) body.logprobs = true;
  if (req.top_logprobs) body.top_logprobs = req.top_logprobs;
  // Ollama has no tool_choice: "none" is honoured by not offering the tools at all.
  if (req.tools?.length && req.tool_choice !== 'none') body.tools = req.tools.map((t) => ({ type: 'function', function: t.function }));
  return { url: `${endpoint.baseUrl}/api/chat`, headers: headers(endpoint, stream), body: JSON.stringify(body) };
}

export function buildOllamaEmbeddingsRequest(endpoint: Endpoint, model: string, req: EmbeddingsRequest): UpstreamRequest {
  const body: Record<string, unknown> = { model, input: embeddingInputs(req) };
  if (req.dimensions) body.dimensions = req.dimensions;
  return { url: `${endpoint.baseUrl}/api/embed`, headers: headers(endpoint, false), body: JSON.stringify(body) };
}
