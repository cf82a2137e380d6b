// Pure parts of the guardrails: rolling window math, circuit breaker, upstream-key header learning
// and weighted key choice, reset formatting.
import { describe, expect, it } from 'vitest';
import { admit, adjust, emptyRateState, refreshSlots, releaseSlots, SLOT_TTL_MS } from '../../shared/limits/window.ts';
import { Breakers } from '../../services/worker/breaker.ts';
import { exhaustedForMs, parseDurationMs, UpstreamKeys } from '../../services/worker/upstream-keys.ts';
import { formatReset } from '../../services/ingress/admission.ts';
import { isContextWindowError, shouldFallback } from '../../services/worker/fallback.ts';
import { loadConfig } from '../../shared/config/env.ts';
import { parseConfigFile } from '../../shared/config/file.ts';
import { periodEndsInMs, periodId } from '../../shared/limits/budget.ts';

const input = { tokens: 10, holder: 'p1', wantRequests: 0, wantTokens: 0 };

describe('rolling window', () => {
  it('never admits more than rpm within any 60 s, and frees capacity as buckets age out', () => {
    const s = emptyRateState();
    const t0 = 1_000_000_000;
    for (let i = 0; i < 5; i++) expect(admit(s, t0 + i * 1000, { rpm: 5 }, input).ok).toBe(true);
    const r = admit(s, t0 + 10_000, { rpm: 5 }, input);
    expect(r).toMatchObject({ ok: false, reason: 'requests' });
    // The first request (second t0) leaves the window 61 s after its bucket started.
    expect(r.resetRequestsMs).toBe(51_000);
    expect(admit(s, t0 + 60_500, { rpm: 5 }, input).ok).toBe(false);
    expect(admit(s, t0 + 61_000, { rpm: 5 }, input).ok).toBe(true);
  });

  it('counts tokens, corrects estimates, and grants leases only within the limit', () => {
    const s = emptyRateState();
    const now = 2_000_000_000;
    const a = admit(s, now, { tpm: 100, rpm: 10 }, { tokens: 60, holder: 'p', wantRequests: 50, wantTokens: 30 });
    expect(a).toMatchObject({ ok: true, leaseRequests: 9, leaseTokens: 30 });
    expect(admit(s, now, { tpm: 100 }, { ...input, tokens: 20 })).toMatchObject({ ok: false, reason: 'tokens' });
    adjust(s, now, a.sec, 0, -50); // real usage was 10 tokens, and the lease is returned
    expect(admit(s, now, { tpm: 100 }, { ...input, tokens: 20 }).ok).toBe(true);
  });

  it('holds concurrency slots per process, released or expired', () => {
    const s = emptyRateState();
    const now = 3_000_000_000;
    expect(admit(s, now, { max_concurrency: 2 }, { ...input, holder: 'a' }).ok).toBe(true);
    expect(admit(s, now, { max_concurrency: 2 }, { ...input, holder: 'b' }).ok).toBe(true);
    expect(admit(s, now, { max_concurrency: 2 }, { ...input, holder: 'a' })).toMatchObject({ ok: false, reason: 'concurrency' });
    releaseSlots(s, now, 'a', 1);
    expect(admit(s, now, { max_concurrency: 2 }, { ...input, holder: 'a' }).ok).toBe(true);
    // b dies: its slot expires; a keeps refreshing its own.
    refreshSlots(s, now + SLOT_TTL_MS - 1, 'a', 1);
    expect(admit(s, now + SLOT_TTL_MS + 1, { max_concurrency: 2 }, { ...input, holder: 'c' }).ok).toBe(true);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, probes once after the cooldown, closes on success', () => {
    const b = new Breakers({ failures: 3, cooldownMs: 1000 });
    const t = 'openai/x';
    b.failure(t, 0);
    b.failure(t, 0);
    b.success(t);
    b.failure(t, 0);
    b.failure(t, 0);
    expect(b.state(t)).toBe('closed');
    b.failure(t, 10);
    expect(b.state(t)).toBe('open');
    expect(b.allow(t, 500)).toBe(false);
    expect(b.allow(t, 1010)).toBe(true);
    expect(b.state(t)).toBe('half-open');
    expect(b.allow(t, 1011)).toBe(false); // one probe at a time
    b.failure(t, 1020);
    expect(b.state(t)).toBe('open');
    expect(b.allow(t, 2030)).toBe(true);
    b.success(t);
    expect(b.state(t)).toBe('closed');
    expect(b.allow(t, 2031)).toBe(true);
  });
});

describe('upstream keys', () => {
  it('reads exhaustion from OpenAI-style and Anthropic headers and 429s', () => {
    expect(parseDurationMs('6m0s')).toBe(360_000);
    expect(parseDurationMs('1m26.4s')).toBe(86_400);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(exhaustedForMs(200, { 'x-ratelimit-remaining-requests': '5' })).toBeUndefined();
    expect(exhaustedForMs(200, { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '2s' })).toBe(2000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(
      exhaustedForMs(
        200,
        { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:03Z' },
        now,
      ),
    ).toBe(3000);
    expect(exhaustedForMs(429, { 'retry-after': '7' })).toBe(7000);
  });

  it('picks keys by weight and avoids a key exhausted for the model', () => {
    const cfg = loadConfig({});
    cfg.file = parseConfigFile('providers:\n  openai:\n    api_keys: [{ key: a, weight: 3 }, { key: b, weight: 1 }]\n');
    const keys = new UpstreamKeys(cfg);
    const seen = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 4000; i++) seen[keys.pick('openai', 'm').key!]!++;
    expect(seen.a! / 4000).toBeGreaterThan(0.7);
    expect(seen.a! / 4000).toBeLessThan(0.8);
    keys.pick('openai', 'm', () => 0).pause('m', 5_000); // key a exhausted for model m
    for (let i = 0; i < 50; i++) expect(keys.pick('openai', 'm').key).toBe('b');
    expect(keys.hasFreeKey('openai', 'm')).toBe(true);
    expect(['a', 'b']).toContain(keys.pick('openai', 'other').key); // other models unaffected
  });
});

describe('fallback policy and formats', () => {
  it('falls back on retryable and context-window errors only', () => {
    const e = (status: number, retryable: boolean, message = 'x', code: string | null = null) => ({
      status,
      retryable,
      error: { message, type: 't', param: null, code },
    });
    expect(shouldFallback(e(429, true))).toBe(true);
    expect(shouldFallback(e(400, false))).toBe(false);
    expect(isContextWindowError(e(400, false, "This model's maximum context length is 8192 tokens"))).toBe(true);
    expect(shouldFallback(e(400, false, 'x', 'context_length_exceeded'))).toBe(true);
  });

  it('formats resets like OpenAI and names budget periods in UTC', () => {
    expect(formatReset(250)).toBe('250ms');
    expect(formatReset(1500)).toBe('2s');
    expect(formatReset(61_000)).toBe('1m1s');
    const now = Date.parse('2026-11-25T23:00:00Z');
    expect(periodId('day', now)).toBe('d20261125');
    expect(periodId('month', now)).toBe('m202611');
    expect(periodEndsInMs('day', now)).toBe(3_600_000);
  });
});
