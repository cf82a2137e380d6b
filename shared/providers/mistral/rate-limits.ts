// Mistral's rate-limit headers count tokens per minute and per month ("by size"):
// `x-ratelimitbysize-remaining-minute`, `x-ratelimitbysize-remaining-month`, and `ratelimitbysize-reset`
// in seconds until the window resets. OpenAI-style `x-ratelimit-*` headers are read too.
import { header, openAIRateLimits, type RateLimitParser } from '../common/rate-limit-headers.ts';

const MINUTE_MS = 60_000;

export const mistralRateLimits: RateLimitParser = (h, now) => {
  const resetSeconds = Number(header(h, 'ratelimitbysize-reset'));
  const reset = Number.isFinite(resetSeconds) && resetSeconds > 0 ? resetSeconds * 1000 : undefined;
  if (header(h, 'x-ratelimitbysize-remaining-month') === '0') return reset ?? 24 * 60 * MINUTE_MS;
  if (header(h, 'x-ratelimitbysize-remaining-minute') === '0' || header(h, 'ratelimitbysize-remaining') === '0') return reset ?? MINUTE_MS;
  return openAIRateLimits(h, now);
};
