// USD per million tokens. Defaults for common models; the config file (issue: tenant controls)
// overrides and extends them. Unknown models cost 0 and are logged once by the caller.
export interface ModelPrice {
  input: number;
  cached_input?: number;
  output: number;
}

const DEFAULT_PRICES: Record<string, ModelPrice> = {
  'openai/gpt-4o-mini': { input: 0.15, cached_input: 0.075, output: 0.6 },
  'openai/gpt-4o': { input: 2.5, cached_input: 1.25, output: 10 },
  'openai/gpt-4.1-mini': { input: 0.4, cached_input: 0.1, output: 1.6 },
  'openai/text-embedding-3-small': { input: 0.02, output: 0 },
  'anthropic/claude-sonnet-4-5': { input: 3, cached_input: 0.3, output: 15 },
  'anthropic/claude-haiku-4-5': { input: 1, cached_input: 0.1, output: 5 },
  'gemini/gemini-2.5-flash': { input: 0.3, cached_input: 0.075, output: 2.5 },
  'groq/llama-3.3-70b-versatile': { input: 0.59, output: 0.79 },
  'xai/grok-3-mini': { input: 0.3, cached_input: 0.075, output: 0.5 },
};

export class PriceBook {
  private prices: Map<string, ModelPrice>;
  constructor(overrides: Record<string, ModelPrice> = {}) {
    this.prices = new Map(Object.entries({ ...DEFAULT_PRICES, ...overrides }));
  }

  /** Every priced `provider/model`. */
  models(): string[] {
    return [...this.prices.keys()];
  }

  /** Takes over `other`'s prices (a config reload): holders of this book see them from the next request on. */
  replaceWith(other: PriceBook): void {
    this.prices = other.prices;
  }

  get(provider: string, model: string): ModelPrice | undefined {
    return this.prices.get(`${provider}/${model}`);
  }

  /** Cost of one request; cached input is billed at its own rate, the rest of the input at full rate. */
  cost(provider: string, model: string, t: { input: number; cached: number; output: number }): number {
    const p = this.get(provider, model);
    if (!p) return 0;
    const uncached = Math.max(0, t.input - t.cached);
    const usd = (uncached * p.input + t.cached * (p.cached_input ?? p.input) + t.output * p.output) / 1e6;
    return Math.round(usd * 1e8) / 1e8;
  }
}
