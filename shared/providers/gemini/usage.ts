// Gemini usageMetadata -> OpenAI usage. candidatesTokenCount excludes thoughts, OpenAI's
// completion_tokens includes them; promptTokenCount already includes cached tokens.
import { z } from 'zod';
import type { Usage } from '../../protocol/events.ts';

export const geminiUsageSchema = z
  .object({
    promptTokenCount: z.number().optional(),
    candidatesTokenCount: z.number().optional(),
    thoughtsTokenCount: z.number().optional(),
    toolUsePromptTokenCount: z.number().optional(),
    cachedContentTokenCount: z.number().optional(),
    totalTokenCount: z.number().optional(),
  })
  .loose();
export type GeminiUsage = z.infer<typeof geminiUsageSchema>;

export function convertGeminiUsage(u: GeminiUsage | undefined): Usage {
  const prompt = (u?.promptTokenCount ?? 0) + (u?.toolUsePromptTokenCount ?? 0);
  const thoughts = u?.thoughtsTokenCount ?? 0;
  const completion = (u?.candidatesTokenCount ?? 0) + thoughts;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: u?.totalTokenCount ?? prompt + completion };
  if (u?.cachedContentTokenCount !== undefined) usage.prompt_tokens_details = { cached_tokens: u.cachedContentTokenCount };
  if (u?.thoughtsTokenCount !== undefined) usage.completion_tokens_details = { reasoning_tokens: thoughts };
  return usage;
}
