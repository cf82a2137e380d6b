// Rate-limit headers in the OpenAI style (OpenAI, Groq, xAI and most OpenAI-compatible servers):
// `x-ratelimit-remaining-{requests,tokens}` and a Go-style `x-ratelimit-reset-*` duration.

export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** Milliseconds the key is exhausted for according to the headers; undefined = not exhausted. */
export type RateLimitParser = (headers: ResponseHeaders, now: number) => number | undefined;

export function header(h: ResponseHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Go-style durations as OpenAI/Groq send them: `6ms`, `1s`, `6m0s`, `1m26.4s`, `2h3m`. */
export function parseDurationMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  let ms = 0;
  let matched = false;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    matched = true;
    const n = Number(m[1]);
    ms += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
  }
  return matched ? ms : undefined;
}

export const openAIRateLimits: RateLimitParser = (h) => {
  for (const family of ['requests', 'tokens']) {
    if (header(h, `x-ratelimit-remaining-${family}`) === '0') return parseDurationMs(header(h, `x-ratelimit-reset-${family}`)) ?? 1_000;
  }
  return undefined;
};

/** Providers that send no rate-limit headers (Gemini, Ollama): only their 429s tell. */
export const noRateLimitHeaders: RateLimitParser = () => undefined;
