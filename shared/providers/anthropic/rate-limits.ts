// Anthropic's rate-limit headers: a remaining count and an RFC 3339 reset time per family.
import { header, type RateLimitParser } from '../common/rate-limit-headers.ts';

export const anthropicRateLimits: RateLimitParser = (h, now) => {
  for (const family of ['requests', 'tokens']) {
    if (header(h, `anthropic-ratelimit-${family}-remaining`) === '0') {
      const reset = Date.parse(header(h, `anthropic-ratelimit-${family}-reset`) ?? '');
      return Number.isNaN(reset) ? 1_000 : Math.max(0, reset - now);
    }
  }
  return undefined;
};
