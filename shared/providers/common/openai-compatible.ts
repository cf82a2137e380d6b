// Requests for OpenAI-compatible upstreams (Groq, xAI) that reject or ignore OpenAI-only fields.
import type { ChatCompletionRequest } from '../../protocol/openai.ts';

/** `reasoning_content` on assistant turns is a Switchyard/DeepSeek echo field the upstream does not accept. */
export function withoutReasoningEcho(req: ChatCompletionRequest): ChatCompletionRequest {
  if (!req.messages.some((m) => m.role === 'assistant' && 'reasoning_content' in m)) return req;
  return {
    ...req,
    messages: req.messages.map((m) => {
      if (m.role !== 'assistant' || !('reasoning_content' in m)) return m;
      const { reasoning_content: _drop, ...rest } = m;
      return rest as typeof m;
    }),
  };
}
