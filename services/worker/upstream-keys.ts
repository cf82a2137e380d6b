// Upstream API keys per provider (config file `providers.<name>.api_keys`, else the env key):
// weighted load balancing across keys, and one bottleneck limiter per key that respects the key's
// configured rpm/tpm, learns from the provider's rate-limit headers and 429s, and queues requests
// while a key is exhausted instead of hammering it. Limiters are per worker process: configured
// rpm/tpm are therefore per process (divide by the worker count), while the provider's own headers
// tell every process when the key as a whole is exhausted.
import Bottleneck from 'bottleneck';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import { AdapterError, type Endpoint, type UpstreamRequest } from '../../shared/providers/types.ts';
import { retryAfterFromHeaders } from '../../shared/providers/retry-hints.ts';
import { metrics } from '../../shared/telemetry/metrics.ts';
import { parseDurationMs, type RateLimitParser } from '../../shared/providers/common/rate-limit-headers.ts';
import { BUILTIN_PROVIDERS, getDescriptor } from '../../shared/providers/registry.ts';
import { sendUpstream, type UpstreamResponse } from './upstream.ts';
import { tracing } from '../../shared/telemetry/tracing.ts';
import { tracedSendUpstream } from './attempt-tracing.ts';

type Headers = Record<string, string | string[] | undefined>;

export { parseDurationMs };

/** Every built-in provider's header parser, for a caller that does not say which provider answered. */
const anyProviderRateLimits: RateLimitParser = (h, now) => {
  for (const d of BUILTIN_PROVIDERS) {
    const ms = d.rateLimits(h, now);
    if (ms !== undefined) return ms;
  }
  return undefined;
};

/**
 * How long the key is exhausted for; undefined = not exhausted. A 429 says so for every provider;
 * otherwise the provider's own rate-limit headers tell (parsed in its folder, shared/providers/<name>/).
 */
export function exhaustedForMs(
  status: number,
  h: Headers,
  now = Date.now(),
  rateLimits: RateLimitParser = anyProviderRateLimits,
): number | undefined {
  if (status === 429) return retryAfterFromHeaders(h, now) ?? 1_000;
  return rateLimits(h, now);
}

/**
 * Token bucket for a key's configured rpm/tpm, checked synchronously: a request with capacity goes
 * out at once. Only when the bucket is empty does the request queue (in bottleneck, FIFO) — a
 * bottleneck schedule() costs ~4.5 ms even when idle (measured, bench/guardrails.ts), too much for
 * every request.
 */
class TokenBucket {
  private level: number;
  private last = Date.now();
  readonly capacity: number;
  private readonly perMs: number;
  constructor(perMinute: number) {
    this.capacity = perMinute;
    this.level = perMinute;
    this.perMs = perMinute / 60_000;
  }
  /** Milliseconds until `n` units are available (0: now). */
  waitFor(n: number, now: number): number {
    this.level = Math.min(this.capacity, this.level + (now - this.last) * this.perMs);
    this.last = now;
    const need = Math.min(n, this.capacity);
    return this.level >= need ? 0 : Math.ceil((need - this.level) / this.perMs);
  }
  take(n: number): void {
    this.level -= Math.min(n, this.capacity);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class UpstreamKey {
  readonly provider: string;
  readonly index: number;
  readonly key: string | undefined;
  readonly weight: number;
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
  private readonly rateLimits: RateLimitParser;
  /** The key's configured rpm / tpm; null: not limited by configuration. */
  private readonly requestBucket: TokenBucket | null = null;
  private readonly tokenBucket: TokenBucket | null = null;
  /** FIFO of requests waiting for bucket capacity, one released at a time. */
  private readonly queue = new Bottleneck({ maxConcurrent: 1 });
  private waiting = 0;
  /**
   * Learned exhaustion per upstream model (providers limit per key *and* model): a closed gate
   * (bottleneck with an empty reservoir) that queues requests until the provider's reset time.
   */
  private readonly pauses = new Map<string, { until: number; gate: Bottleneck }>();

  constructor(
    provider: string,
    index: number,
    k: { key: string | undefined; weight: number; rpm?: number; tpm?: number },
    rateLimits: RateLimitParser = anyProviderRateLimits,
  ) {
    this.provider = provider;
    this.rateLimits = rateLimits;
    this.index = index;
    this.key = k.key;
    this.weight = k.weight;
    this.rpm = k.rpm;
    this.tpm = k.tpm;
    if (k.rpm) this.requestBucket = new TokenBucket(k.rpm);
    if (k.tpm) this.tokenBucket = new TokenBucket(k.tpm);
  }

  endpoint(base: Endpoint): Endpoint {
    return this.key === undefined ? base : { baseUrl: base.baseUrl, apiKey: this.key };
  }

  /**
   * Sends when the key has capacity (queued in bottleneck until then), then learns from the answer.
   * `canQueue` false (the request has a fallback target): an exhausted key fails at once with a 429
   * instead, so the request moves on rather than waiting here.
   */
  async send(
    up: UpstreamRequest,
    model: string,
    signal: AbortSignal,
    timeoutMs: number,
    estTokens: number,
    canQueue = true,
  ): Promise<UpstreamResponse> {
    const pause = this.pauses.get(model);
    if (pause && !canQueue) {
      throw new AdapterError({
        status: 429,
        retryable: true,
        retryAfterMs: Math.max(0, pause.until - Date.now()),
        error: {
          message: `The upstream keys of ${this.provider} are rate limited for ${model} right now.`,
          type: 'rate_limit_error',
          param: null,
          code: 'upstream_rate_limited',
        },
      });
    }
    if (pause) await pause.gate.schedule(() => Promise.resolve());
    if (this.requestBucket || this.tokenBucket) await this.capacity(estTokens);
    const res = await (tracing.on ? tracedSendUpstream(this.provider, model, up, signal, timeoutMs) : sendUpstream(up, signal, timeoutMs));
    const pauseMs = exhaustedForMs(res.status, res.headers, Date.now(), this.rateLimits);
    if (pauseMs !== undefined) this.pause(model, pauseMs);
    return res;
  }

  private waitMs(tokens: number, now: number): number {
    return Math.max(this.requestBucket?.waitFor(1, now) ?? 0, this.tokenBucket?.waitFor(tokens, now) ?? 0);
  }

  private take(tokens: number): void {
    this.requestBucket?.take(1);
    this.tokenBucket?.take(tokens);
  }

  /** Waits (queued behind earlier waiters) until the key's configured rpm/tpm allow one more request. */
  private async capacity(tokens: number): Promise<void> {
    if (this.waiting === 0 && this.waitMs(tokens, Date.now()) === 0) {
      this.take(tokens);
      return;
    }
    this.waiting++;
    metrics.upstreamKeyQueued.inc({ provider: this.provider, key: String(this.index) });
    try {
      await this.queue.schedule(async () => {
        for (let w = this.waitMs(tokens, Date.now()); w > 0; w = this.waitMs(tokens, Date.now())) await sleep(w);
        this.take(tokens);
      });
    } finally {
      this.waiting--;
      metrics.upstreamKeyQueued.dec({ provider: this.provider, key: String(this.index) });
    }
  }

  /** The provider says this key is exhausted for `model`: queue its requests until it resets. */
  pause(model: string, ms: number): void {
    const until = Date.now() + Math.min(ms, 60_000);
    const existing = this.pauses.get(model);
    if (existing && until <= existing.until) return;
    const gate = existing?.gate ?? new Bottleneck({ reservoir: 0 });
    const entry = { until, gate };
    this.pauses.set(model, entry);
    setTimeout(() => {
      if (this.pauses.get(model) !== entry) return; // extended meanwhile
      this.pauses.delete(model);
      gate.updateSettings({ reservoir: null }); // release what queued
    }, until - Date.now()).unref();
  }

  /** Exhausted for `model` (or, without a model, for every model it was told about)? */
  pausedFor(model: string, now = Date.now()): boolean {
    const p = this.pauses.get(model);
    return p !== undefined && p.until > now;
  }
}

export class UpstreamKeys {
  private readonly pools = new Map<string, UpstreamKey[]>();

  constructor(config: SwitchyardConfig) {
    for (const [provider, endpoint] of Object.entries(config.providers)) {
      const fileKeys = config.file?.providers[provider as keyof typeof config.providers]?.api_keys ?? [];
      const keys = fileKeys.length > 0 ? fileKeys : [{ key: endpoint.apiKey, weight: 1 }];
      const rateLimits = getDescriptor(provider, config.file)?.rateLimits;
      this.pools.set(
        provider,
        keys.map((k, i) => new UpstreamKey(provider, i, k, rateLimits)),
      );
    }
  }

  /** A weighted random key among those not exhausted for `model` (all exhausted: any, it will queue). */
  pick(provider: string, model: string, random: () => number = Math.random): UpstreamKey {
    const pool = this.pools.get(provider)!;
    if (pool.length === 1) return pool[0]!;
    const now = Date.now();
    let free = pool.filter((k) => !k.pausedFor(model, now));
    if (free.length === 0) free = pool;
    let r = random() * free.reduce((sum, k) => sum + k.weight, 0);
    for (const k of free) {
      r -= k.weight;
      if (r < 0) return k;
    }
    return free[free.length - 1]!;
  }

  /** Is some key of the provider not exhausted for `model`? (Then a retry need not wait for a retry-after.) */
  hasFreeKey(provider: string, model: string): boolean {
    const now = Date.now();
    return (this.pools.get(provider) ?? []).some((k) => !k.pausedFor(model, now));
  }
}
