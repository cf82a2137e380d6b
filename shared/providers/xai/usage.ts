// xAI's completion_tokens leaves reasoning out (observed: 12 prompt + 1 completion + 290 reasoning =
// 303 total); OpenAI's includes it. Added only when the total shows it was left out, so a fixed
// upstream is not counted twice.
import type { Usage } from '../../protocol/events.ts';

export function fixXaiUsage(u: Usage): Usage {
  const reasoning = u.completion_tokens_details?.reasoning_tokens ?? 0;
  if (reasoning === 0) return u;
  if (u.total_tokens === u.prompt_tokens + u.completion_tokens) return u;
  const completion = u.completion_tokens + reasoning;
  return { ...u, completion_tokens: completion, total_tokens: Math.max(u.total_tokens, u.prompt_tokens + completion) };
}
