// Gemini generateContent response -> normalized chat result.
import type { AssistantMessage } from '../../protocol/events.ts';
import type { ChatResult } from '../types.ts';
import { geminiResponseSchema } from './schema.ts';
import { convertGeminiUsage } from './usage.ts';
import { mapGeminiFinishReason } from './finish-reason.ts';
import { encodeGeminiToolCallId } from './tool-call-id.ts';
import { convertGeminiLogprobs } from './logprobs.ts';

export function parseGeminiChatResponse(body: unknown, model: string): ChatResult {
  const parsed = geminiResponseSchema.parse(body);
  const candidate = parsed.candidates?.[0];
  let text = '';
  let reasoning = '';
  const toolCalls: NonNullable<AssistantMessage['tool_calls']> = [];
  for (const part of candidate?.content?.parts ?? []) {
    if (part.functionCall?.name) {
      toolCalls.push({
        id: encodeGeminiToolCallId(part.functionCall.id, part.thoughtSignature),
        type: 'function',
        function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      });
    } else if (part.text !== undefined) {
      if (part.thought) reasoning += part.text;
      else text += part.text;
    }
  }
  const message: AssistantMessage = { role: 'assistant', content: text === '' && toolCalls.length ? null : text };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length) message.tool_calls = toolCalls;
  // A blocked prompt comes back with no candidates at all.
  const finish =
    !candidate && parsed.promptFeedback?.blockReason
      ? 'content_filter'
      : mapGeminiFinishReason(candidate?.finishReason, toolCalls.length > 0);
  const result: ChatResult = {
    message,
    finish_reason: finish,
    usage: convertGeminiUsage(parsed.usageMetadata),
    model: parsed.modelVersion ?? model,
  };
  const logprobs = convertGeminiLogprobs(candidate?.logprobsResult);
  if (logprobs) result.meta = { logprobs };
  return result;
}
