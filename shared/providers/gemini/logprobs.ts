// Gemini `candidates[].logprobsResult` -> OpenAI `choices[].logprobs`. Gemini lists the chosen token
// of each step and, per step, the top alternatives; OpenAI nests the alternatives in each token.
import { z } from 'zod';
import type { ChoiceLogprobs } from '../../protocol/events.ts';

const candidateSchema = z.object({ token: z.string().optional(), logProbability: z.number().optional() }).loose();
export const geminiLogprobsResultSchema = z
  .object({
    topCandidates: z.array(z.object({ candidates: z.array(candidateSchema).optional() }).loose()).optional(),
    chosenCandidates: z.array(candidateSchema).optional(),
  })
  .loose();

const utf8 = new TextEncoder();
const bytesOf = (token: string) => Array.from(utf8.encode(token));

export function convertGeminiLogprobs(result: z.infer<typeof geminiLogprobsResultSchema> | undefined): ChoiceLogprobs | undefined {
  if (!result?.chosenCandidates) return undefined;
  return {
    content: result.chosenCandidates.map((chosen, step) => {
      const token = chosen.token ?? '';
      return {
        token,
        logprob: chosen.logProbability ?? 0,
        bytes: bytesOf(token),
        top_logprobs: (result.topCandidates?.[step]?.candidates ?? []).map((alt) => ({
          token: alt.token ?? '',
          logprob: alt.logProbability ?? 0,
          bytes: bytesOf(alt.token ?? ''),
        })),
      };
    }),
    refusal: null,
  };
}
