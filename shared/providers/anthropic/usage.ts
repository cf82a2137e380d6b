// Anthropic usage -> OpenAI usage. input_tokens excludes cache reads and writes, OpenAI's
// prompt_tokens includes them; output_tokens already includes thinking.
import { z } from 'zod';
import type { Usage } from '../../protocol/events.ts';

export const anthropicUsageSchema = z
  .object({
    input_tokens: z.number().nullable().optional(),
    output_tokens: z.number().nullable().optional(),
    cache_creation_input_tokens: z.number().nullable().optional(),
    cache_read_input_tokens: z.number().nullable().optional(),
  })
  .loose();
export type AnthropicUsage = z.infer<typeof anthropicUsageSchema>;

export function convertAnthropicUsage(u: AnthropicUsage | null | undefined): Usage {
  const input = u?.input_tokens ?? 0;
  const cacheWrite = u?.cache_creation_input_tokens ?? 0;
  const cacheRead = u?.cache_read_input_tokens ?? 0;
  const prompt = input + cacheWrite + cacheRead;
  const completion = u?.output_tokens ?? 0;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (u?.cache_read_input_tokens !== undefined && u.cache_read_input_tokens !== null)
    usage.prompt_tokens_details = { cached_tokens: cacheRead };
  return usage;
}
