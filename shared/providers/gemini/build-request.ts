// OpenAI Chat Completions request -> Gemini generateContent / streamGenerateContent?alt=sse.
import type { ChatCompletionRequest, EmbeddingsRequest } from '../../protocol/openai.ts';
import type { BuildOptions, Endpoint, UpstreamRequest } from '../types.ts';
import { convertToGeminiContents } from './convert-messages.ts';
import { prepareGeminiTools } from './prepare-tools.ts';
import { embeddingInputs } from '../common/embeddings.ts';

/** The model is part of the URL; callers may name it `models/x` or `x`. Encoded: a model is data, not a path. */
export function geminiModelPath(model: string): string {
  return `models/${encodeURIComponent(model.replace(/^models\//, ''))}`;
}

function headers(endpoint: Endpoint, stream: boolean): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
  if (endpoint.apiKey) h['x-goog-api-key'] = endpoint.apiKey;
  return h;
}

const THINKING_BUDGET: Record<string, number> = { none: 0, minimal: 512, low: 1024, medium: 8192, high: 24576, xhigh: 32768 };

/** Gemini 3 takes a thinking level, 2.x a token budget. */
export function thinkingConfig(model: string, effort: string): Record<string, unknown> {
  const includeThoughts = effort !== 'none';
  if (/gemini-3/.test(model))
    return { thinkingLevel: effort === 'none' || effort === 'minimal' || effort === 'low' ? 'low' : 'high', includeThoughts };
  return { thinkingBudget: THINKING_BUDGET[effort] ?? 8192, includeThoughts };
}

export async function buildGeminiChatRequest(
  endpoint: Endpoint,
  model: string,
  req: ChatCompletionRequest,
  stream: boolean,
  opts: BuildOptions = {},
): Promise<UpstreamRequest> {
  const { systemInstruction, contents } = await convertToGeminiContents(req.messages, opts.images);
  const body: Record<string, unknown> = { contents };
  if (systemInstruction) body.systemInstruction = systemInstruction;

  const gc: Record<string, unknown> = {};
  const maxTokens = req.max_completion_tokens ?? req.max_tokens;
  if (maxTokens) gc.maxOutputTokens = maxTokens;
  if (req.temperature !== null && req.temperature !== undefined) gc.temperature = req.temperature;
  if (req.top_p !== null && req.top_p !== undefined) gc.topP = req.top_p;
  if (req.stop) gc.stopSequences = Array.isArray(req.stop) ? req.stop : [req.stop];
  if (req.seed !== null && req.seed !== undefined) gc.seed = req.seed;
  if (req.n && req.n > 1) gc.candidateCount = req.n;
  if (req.presence_penalty) gc.presencePenalty = req.presence_penalty;
  if (req.frequency_penalty) gc.frequencyPenalty = req.frequency_penalty;
  const rf = req.response_format;
  if (rf?.type === 'json_object' || rf?.type === 'json_schema') gc.responseMimeType = 'application/json';
  if (rf?.type === 'json_schema' && rf.json_schema.schema) gc.responseJsonSchema = rf.json_schema.schema;
  if (req.reasoning_effort) gc.thinkingConfig = thinkingConfig(model, req.reasoning_effort);
  // Asking for top alternatives asks for log probabilities too (OpenAI requires both; Gemini needs the first).
  if (req.logprobs === true || req.top_logprobs) gc.responseLogprobs = true;
  if (req.top_logprobs) gc.logprobs = req.top_logprobs;
  if (Object.keys(gc).length) body.generationConfig = gc;
  Object.assign(body, prepareGeminiTools(req));

  const method = stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
  return { url: `${endpoint.baseUrl}/${geminiModelPath(model)}:${method}`, headers: headers(endpoint, stream), body: JSON.stringify(body) };
}

export function buildGeminiEmbeddingsRequest(endpoint: Endpoint, model: string, req: EmbeddingsRequest): UpstreamRequest {
  const path = geminiModelPath(model);
  const requests = embeddingInputs(req).map((text) => ({
    model: path,
    content: { parts: [{ text }] },
    ...(req.dimensions ? { outputDimensionality: req.dimensions } : {}),
  }));
  return { url: `${endpoint.baseUrl}/${path}:batchEmbedContents`, headers: headers(endpoint, false), body: JSON.stringify({ requests }) };
}
