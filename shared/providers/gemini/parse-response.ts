// Gemini generateContent response -> normalized chat result.
import type { AssistantMessage, ExtraChoice } from '../../protocol/events.ts';
import type { ChatResult } from '../types.ts';
import { geminiResponseSchema, type GeminiResponse } from './schema.ts';
import { convertGeminiUsage } from './usage.ts';
import { mapGeminiFinishReason } from './finish-reason.ts';
import { encodeGeminiToolCallId } from './tool-call-id.ts';
import { convertGeminiLogprobs } from './logprobs.ts';

type Candidate = NonNullable<GeminiResponse['candidates']>[number];

export function parseGeminiChatResponse(body: unknown, model: string): ChatResult {
  const parsed = geminiResponseSchema.parse(body);
  const candidate = parsed.candidates?.[0];
  const first = candidateChoice(candidate);
  // A blocked prompt comes back with no candidates at all.
  const finish = !candidate && parsed.promptFeedback?.blockReason ? 'content_filter' : first.finish_reason;
  const result: ChatResult = {
    message: first.message,
    finish_reason: finish,
    usage: convertGeminiUsage(parsed.usageMetadata),
    model: parsed.modelVersion ?? model,
  };
  const logprobs = convertGeminiLogprobs(candidate?.logprobsResult);
  if (logprobs) result.meta = { logprobs };
  // candidateCount (OpenAI's n) > 1: the other candidates are the other choices.
  const more = parsed.candidates?.slice(1) ?? [];
  if (more.length) result.meta = { ...result.meta, more_choices: more.map(candidateChoice) };
  return result;
}

function candidateChoice(candidate: Candidate | undefined): ExtraChoice {
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
  return {
    message,
    finish_reason: mapGeminiFinishReason(candidate?.finishReason, toolCalls.length > 0),
    logprobs: convertGeminiLogprobs(candidate?.logprobsResult) ?? null,
  };
}
