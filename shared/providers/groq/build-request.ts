// Groq speaks OpenAI Chat Completions at /openai/v1; the body is forwarded minus fields it rejects.
import type { ChatCompletionRequest } from '../../protocol/openai.ts';
import type { Endpoint, UpstreamRequest } from '../types.ts';
import { buildOpenAIChatRequest } from '../openai/build-request.ts';
import { withoutReasoningEcho } from '../common/openai-compatible.ts';

export function buildGroqChatRequest(endpoint: Endpoint, model: string, req: ChatCompletionRequest, stream: boolean): UpstreamRequest {
  return buildOpenAIChatRequest(endpoint, model, withoutReasoningEcho(req), stream);
}
