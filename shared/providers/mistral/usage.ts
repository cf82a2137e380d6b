// Mistral's usage is OpenAI's three counts; cached prompt tokens, when reported, come as
// `prompt_tokens_details.cached_tokens` or the older top-level `num_cached_tokens`.
import type { Usage } from '../../protocol/events.ts';

export function mistralUsage(u: Usage, raw: unknown): Usage {
  if (u.prompt_tokens_details?.cached_tokens !== undefined) return u;
  const cached = (raw as { usage?: { num_cached_tokens?: unknown } } | null)?.usage?.num_cached_tokens;
  return typeof cached === 'number' ? { ...u, prompt_tokens_details: { cached_tokens: cached } } : u;
}
