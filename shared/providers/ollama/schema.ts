// One /api/chat answer or NDJSON stream line. /api/generate lines (`response`, top-level `thinking`)
// are accepted too, so recordings of either endpoint replay.
import { z } from 'zod';
import type { ChoiceLogprobs } from '../../protocol/events.ts';
import { choiceLogprobsSchema, openAILogprobs } from '../openai/parse-response.ts';

export const ollamaToolCallSchema = z
  .object({
    id: z.string().optional(),
    function: z
      .object({
        index: z.number().optional(),
        name: z.string(),
        // Arguments are an object; some builds and proxies send the JSON string instead.
        arguments: z
          .union([z.record(z.string(), z.unknown()), z.string()])
          .nullable()
          .optional(),
      })
      .loose(),
  })
  .loose();

export const ollamaChatSchema = z
  .object({
    model: z.string().optional(),
    message: z
      .object({
        role: z.string().optional(),
        content: z.string().nullable().optional(),
        thinking: z.string().nullable().optional(),
        tool_calls: z.array(ollamaToolCallSchema).nullable().optional(),
      })
      .loose()
      .optional(),
    response: z.string().optional(),
    thinking: z.string().optional(),
    done: z.boolean().optional(),
    done_reason: z.string().nullable().optional(),
    prompt_eval_count: z.number().optional(),
    eval_count: z.number().optional(),
    // `logprobs: true` on the request: per token, OpenAI's shape as a bare list.
    logprobs: z.array(z.unknown()).nullable().optional(),
  })
  .loose();
export type OllamaChat = z.infer<typeof ollamaChatSchema>;

export function toolArguments(args: Record<string, unknown> | string | null | undefined): string {
  if (typeof args === 'string') return args.trim() === '' ? '{}' : args;
  return JSON.stringify(args ?? {});
}

/** Ollama's token list as OpenAI's `choices[].logprobs`; undefined when the answer has none. */
export function ollamaLogprobs(list: unknown[] | null | undefined): ChoiceLogprobs | undefined {
  if (!list?.length) return undefined;
  return openAILogprobs(choiceLogprobsSchema.parse({ content: list, refusal: null }));
}
