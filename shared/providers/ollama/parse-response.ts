// Ollama /api/chat (stream:false) -> normalized chat result.
import type { AssistantMessage } from '../../protocol/events.ts';
import type { ChatResult } from '../types.ts';
import { synthesizeToolCallId } from '../common/ids.ts';
import { ollamaChatSchema, ollamaLogprobs, toolArguments } from './schema.ts';
import { convertOllamaUsage } from './usage.ts';
import { mapOllamaDoneReason } from './finish-reason.ts';

export function parseOllamaChatResponse(body: unknown, model: string): ChatResult {
  const parsed = ollamaChatSchema.parse(body);
  const text = parsed.message?.content ?? parsed.response ?? '';
  const reasoning = parsed.message?.thinking ?? parsed.thinking;
  const toolCalls = (parsed.message?.tool_calls ?? []).map((t) => ({
    id: t.id || synthesizeToolCallId(),
    type: 'function' as const,
    function: { name: t.function.name, arguments: toolArguments(t.function.arguments) },
  }));
  const message: AssistantMessage = { role: 'assistant', content: text === '' && toolCalls.length ? null : text };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length) message.tool_calls = toolCalls;
  const result: ChatResult = {
    message,
    finish_reason: mapOllamaDoneReason(parsed.done_reason, toolCalls.length > 0),
    usage: convertOllamaUsage(parsed),
    model: parsed.model ?? model,
  };
  const logprobs = ollamaLogprobs(parsed.logprobs);
  if (logprobs) result.meta = { logprobs };
  return result;
}
