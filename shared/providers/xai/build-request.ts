// xAI speaks OpenAI Chat Completions; reasoning_effort takes only "low" or "high".
import type { ChatCompletionRequest } from '../../protocol/openai.ts';
import type { Endpoint, UpstreamRequest } from '../types.ts';
import { buildOpenAIChatRequest } from '../openai/build-request.ts';
import { withoutReasoningEcho } from '../common/openai-compatible.ts';

export function buildXaiChatRequest(endpoint: Endpoint, model: string, req: ChatCompletionRequest, stream: boolean): UpstreamRequest {
  const out = withoutReasoningEcho(req);
  const effort = req.reasoning_effort;
  if (effort === undefined || effort === null) return buildOpenAIChatRequest(endpoint, model, out, stream);
  const copy: ChatCompletionRequest = { ...out };
  if (effort === 'none') delete copy.reasoning_effort;
  else copy.reasoning_effort = effort === 'minimal' || effort === 'low' ? 'low' : 'high';
  return buildOpenAIChatRequest(endpoint, model, copy, stream);
}
