// Ollama counts -> OpenAI usage. prompt_eval_count is left out when the whole prompt was cached.
import type { Usage } from '../../protocol/events.ts';

export function convertOllamaUsage(u: { prompt_eval_count?: number | undefined; eval_count?: number | undefined }): Usage {
  const prompt = u.prompt_eval_count ?? 0;
  const completion = u.eval_count ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
