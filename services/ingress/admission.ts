// Admission control at the ingress: per-tenant and per-key RPM, TPM and max concurrency, and the
// tenant's budget, held in NATS KV so every ingress process enforces one shared limit
// (docs/guardrails.md). A principal without limits and budget costs one WeakMap lookup and no I/O.
//
// Rate state: one KV value per scope (tenant or key) with rolling 1-s buckets (shared/limits/window.ts),
// updated by CAS. Operations of concurrent requests in one process are batched into one CAS, and a
// scope with a high limit prepays a small lease of requests/tokens per second so most requests are
// admitted from memory. Budget: spent+reserved USD per tenant and period, worst case reserved
// before sending, replaced by the real cost when the answer is in.
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { Db } from '../../shared/db/database.ts';
import type { PriceBook } from '../../shared/config/prices.ts';
import { kvKeys } from '../../shared/nats/topology.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import type { Usage } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { metrics } from '../../shared/telemetry/metrics.ts';
import { jsonCodec, KvCell, runOp, type LimitBuckets } from '../../shared/limits/kv.ts';
import {
  admit as admitWindow,
  adjust,
  emptyRateState,
  refreshSlots,
  releaseSlots,
  type AdmitOutcome,
  type RateLimits,
  type RateState,
} from '../../shared/limits/window.ts';
import { periodEndsInMs, periodId, spentInPeriod, usd, type BudgetPeriod, type BudgetState } from '../../shared/limits/budget.ts';
import { estimatePromptTokens, maxOutputTokens } from '../../shared/limits/estimate.ts';
import type { RouteTarget } from './routing.ts';

export interface AdmissionOptions {
  /** null: KV could not be opened; rate limits then fail open and budgets fail closed. */
  buckets: LimitBuckets | null;
  db: Db;
  prices: PriceBook;
  /** This process's id: owner of its concurrency slots. */
  holder: string;
  defaultMaxTokens: number;
  log: Logger;
}

/** How a request ended, for reconciliation. */
export type Settlement =
  /** The answer is in: replace estimates by real tokens and cost. `target` is `provider/model` that served. */
  | { usage: Usage; target: string }
  /** Nothing was produced (upstream error before any output, or not queued): give estimates back. */
  | 'failed'
  /** Outcome unknown (client gone, timeout): keep the estimates, which are worst cases. */
  | 'unknown';

export interface Admitted {
  /** x-ratelimit-* headers for the response. */
  headers: Record<string, string>;
  /** Call exactly once when the request ends (further calls are ignored). */
  settle(outcome: Settlement): void;
}

interface Plan {
  tenant: RateLimits | null;
  key: RateLimits | null;
  budget: { usd: number; period: BudgetPeriod } | null;
}

const LEASE_FRACTION = 200; // a lease is at most 1/200 of the limit...
const MAX_LEASE_REQUESTS = 100; // ...and at most this many requests
const HEARTBEAT_MS = 10_000;
const IDLE_EVICT_MS = 5 * 60_000;

function limitsOf(raw: Record<string, number> | null): RateLimits | null {
  if (!raw) return null;
  const out: RateLimits = {};
  if (raw.rpm! > 0) out.rpm = raw.rpm;
  if (raw.tpm! > 0) out.tpm = raw.tpm;
  if (raw.max_concurrency! > 0) out.max_concurrency = raw.max_concurrency;
  return out.rpm || out.tpm || out.max_concurrency ? out : null;
}

class RateScope {
  readonly cell: KvCell<RateState>;
  limits: RateLimits = {};
  /** Capacity prepaid in KV for this process, valid during second `sec`. */
  lease = { sec: 0, requests: 0, tokens: 0 };
  /** Concurrency slots this process holds in the scope. */
  held = 0;
  last: AdmitOutcome | null = null;

  constructor(cell: KvCell<RateState>) {
    this.cell = cell;
  }

  async admit(tokens: number, holder: string, now: number): Promise<AdmitOutcome> {
    const sec = Math.floor(now / 1000);
    const L = this.limits;
    const l = this.lease;
    if (l.sec !== sec) this.returnLease();
    else if (
      L.max_concurrency === undefined &&
      (l.requests > 0 || l.tokens > 0) &&
      (L.rpm === undefined || l.requests >= 1) &&
      (L.tpm === undefined || l.tokens >= tokens)
    ) {
      // Served from the lease: no KV round trip.
      if (L.rpm !== undefined) l.requests--;
      if (L.tpm !== undefined) l.tokens -= tokens;
      const last = this.last!;
      return { ...last, ok: true, reason: undefined, sec, leaseRequests: 0, leaseTokens: 0 };
    }
    const want = {
      wantRequests: L.rpm ? Math.min(MAX_LEASE_REQUESTS, Math.floor(L.rpm / LEASE_FRACTION)) : 0,
      wantTokens: L.tpm ? Math.floor(L.tpm / LEASE_FRACTION) : 0,
    };
    const out = await runOp(this.cell, (s, t) => admitWindow(s, t, L, { tokens, holder, ...want }));
    this.last = out;
    if (!out.ok) return out;
    if (L.max_concurrency !== undefined) this.held++;
    if (out.leaseRequests > 0 || out.leaseTokens > 0) {
      if (this.lease.sec !== out.sec) this.returnLease();
      this.lease.sec = out.sec;
      this.lease.requests += out.leaseRequests;
      this.lease.tokens += out.leaseTokens;
    }
    return out;
  }

  /** Gives unused prepaid capacity back to the second it was counted in. */
  returnLease(): void {
    const { sec, requests, tokens } = this.lease;
    this.lease = { sec: 0, requests: 0, tokens: 0 };
    if (requests > 0 || tokens > 0) this.fire((s, now) => adjust(s, now, sec, -requests, -tokens));
  }

  /** Reconciles one admitted request: token estimate -> real tokens, slot released. */
  settle(sec: number, tokenDelta: number, requestDelta: number, holder: string, slot: boolean): void {
    if (slot) this.held = Math.max(0, this.held - 1);
    if (tokenDelta === 0 && requestDelta === 0 && !slot) return;
    this.fire((s, now) => {
      if (tokenDelta !== 0 || requestDelta !== 0) adjust(s, now, sec, requestDelta, tokenDelta);
      if (slot) releaseSlots(s, now, holder, 1);
    });
  }

  heartbeat(holder: string): void {
    const n = this.held;
    if (n > 0) this.fire((s, now) => refreshSlots(s, now, holder, n));
  }

  private fire(apply: (s: RateState, now: number) => void): void {
    // Corrections are not on any request's path: a failure only leaves the window conservative.
    this.cell.submit({ apply, commit: () => {}, fail: () => metrics.limiterErrors.inc({ store: 'rate' }) });
  }
}

export class Admission {
  private readonly opts: AdmissionOptions;
  private readonly plans = new WeakMap<KeyPrincipal, Plan | null>();
  private readonly scopes = new Map<string, RateScope>();
  private readonly budgets = new Map<string, KvCell<BudgetState>>();
  private readonly timers: NodeJS.Timeout[];
  private lastWarn = 0;

  constructor(opts: AdmissionOptions) {
    this.opts = opts;
    const sweepLeases = setInterval(() => {
      const sec = Math.floor(Date.now() / 1000);
      for (const s of this.scopes.values()) if (s.lease.sec !== 0 && s.lease.sec < sec) s.returnLease();
    }, 1_000);
    const heartbeat = setInterval(() => {
      for (const s of this.scopes.values()) s.heartbeat(opts.holder);
    }, HEARTBEAT_MS);
    const evict = setInterval(() => {
      const old = Date.now() - IDLE_EVICT_MS;
      for (const [k, s] of this.scopes) if (s.held === 0 && s.cell.idle && s.cell.lastUsed < old) this.scopes.delete(k);
      for (const [k, c] of this.budgets) if (c.idle && c.lastUsed < old) this.budgets.delete(k);
    }, 60_000);
    this.timers = [sweepLeases, heartbeat, evict];
    for (const t of this.timers) t.unref();
  }

  /**
   * Admits the request or throws the 429. Returns null, synchronously and without I/O, when the
   * principal has no limits and no budget.
   */
  admit(principal: KeyPrincipal, targets: RouteTarget[], body: unknown, kind: 'chat' | 'embeddings'): Promise<Admitted> | null {
    let plan = this.plans.get(principal);
    if (plan === undefined) {
      const tenant = limitsOf(principal.tenantLimits);
      const key = limitsOf(principal.keyLimits);
      const budget = principal.budget && principal.budget.usd > 0 ? principal.budget : null;
      plan = tenant || key || budget ? { tenant, key, budget } : null;
      this.plans.set(principal, plan);
    }
    if (!plan) return null;
    return this.admitPlan(principal, plan, targets, body, kind);
  }

  private async admitPlan(
    principal: KeyPrincipal,
    plan: Plan,
    targets: RouteTarget[],
    body: unknown,
    kind: 'chat' | 'embeddings',
  ): Promise<Admitted> {
    const now = Date.now();
    const { holder } = this.opts;
    const prompt = estimatePromptTokens(body);
    const maxOut = maxOutputTokens(body, kind, this.opts.defaultMaxTokens);
    const tokens = prompt + maxOut;

    // ---- rate scopes (tenant and key in parallel) ----
    const scopes: Array<{ scope: RateScope; limits: RateLimits }> = [];
    if (plan.tenant) scopes.push({ scope: this.scope('tenant', principal.tenantId, plan.tenant), limits: plan.tenant });
    if (plan.key) scopes.push({ scope: this.scope('key', principal.keyId, plan.key), limits: plan.key });
    const outcomes = await Promise.all(
      scopes.map(({ scope }) =>
        scope.admit(tokens, holder, now).catch((err: Error) => {
          this.kvFailed('rate', err);
          return null; // fail open: an unreachable KV must not take the API down
        }),
      ),
    );
    const admitted: Array<{ scope: RateScope; limits: RateLimits; out: AdmitOutcome }> = [];
    let rejected: { limits: RateLimits; out: AdmitOutcome } | null = null;
    outcomes.forEach((out, i) => {
      if (!out) return;
      if (out.ok) admitted.push({ ...scopes[i]!, out });
      else rejected ??= { limits: scopes[i]!.limits, out };
    });
    const undoRates = () => {
      for (const a of admitted)
        a.scope.settle(a.out.sec, -Math.min(tokens, a.limits.tpm ?? tokens), -1, holder, a.limits.max_concurrency !== undefined);
    };
    if (rejected) {
      undoRates();
      throw rateLimited(rejected, tokens);
    }

    // ---- budget (after the rates, so a rate-limited request never holds budget) ----
    let reserved = 0;
    let budgetCell: KvCell<BudgetState> | null = null;
    if (plan.budget) {
      const { usd: limit, period } = plan.budget;
      for (const t of targets)
        reserved = Math.max(reserved, this.opts.prices.cost(t.provider, t.model, { input: prompt, cached: 0, output: maxOut }));
      budgetCell = this.budgetCell(principal.tenantId, period, now);
      let res: { ok: boolean; spent: number };
      try {
        res = await runOp(budgetCell, (s) => {
          if (s.spent >= limit || s.spent + reserved > limit + 1e-9) return { ok: false, spent: s.spent };
          s.spent = usd(s.spent + reserved);
          return { ok: true, spent: s.spent };
        });
      } catch (err) {
        undoRates();
        this.kvFailed('budget', err as Error);
        // Strict budgets: without the counter we cannot know the tenant is within budget.
        throw new ApiError(503, 'Budget state is unavailable; try again shortly.', { type: 'server_error', code: 'budget_unavailable' });
      }
      if (!res.ok) {
        undoRates();
        metrics.rejections.inc({ reason: 'budget' });
        const retryMs = periodEndsInMs(period, now);
        throw new ApiError(
          429,
          `Budget exceeded: this tenant has spent $${res.spent.toFixed(4)} of its $${limit} ${period === 'day' ? 'daily' : 'monthly'} budget` +
            (reserved > 0 ? ` and this request may cost up to $${reserved.toFixed(4)}.` : '.'),
          { type: 'insufficient_quota', code: 'budget_exceeded', headers: retryAfter(retryMs) },
        );
      }
    }

    let settled = false;
    return {
      headers: successHeaders(admitted),
      settle: (outcome) => {
        if (settled) return;
        settled = true;
        let actualTokens: number | null = null;
        let actualCost: number | null = null;
        if (outcome === 'failed') {
          actualTokens = 0;
          actualCost = 0;
        } else if (outcome !== 'unknown') {
          const u = outcome.usage;
          actualTokens = u.prompt_tokens + u.completion_tokens;
          const slash = outcome.target.indexOf('/');
          actualCost = this.opts.prices.cost(outcome.target.slice(0, slash), outcome.target.slice(slash + 1), {
            input: u.prompt_tokens,
            cached: u.prompt_tokens_details?.cached_tokens ?? 0,
            output: u.completion_tokens,
          });
        }
        for (const a of admitted) {
          const counted = a.limits.tpm !== undefined ? Math.min(tokens, a.limits.tpm) : tokens;
          const delta = actualTokens === null ? 0 : actualTokens - counted;
          a.scope.settle(a.out.sec, delta, 0, holder, a.limits.max_concurrency !== undefined);
        }
        if (budgetCell && actualCost !== null && actualCost !== reserved) {
          const delta = actualCost - reserved;
          budgetCell.submit({
            apply: (s) => {
              s.spent = Math.max(0, usd(s.spent + delta));
            },
            commit: () => {},
            fail: (err) => this.kvFailed('budget', err),
          });
        }
      },
    };
  }

  private scope(kind: 'tenant' | 'key', id: string, limits: RateLimits): RateScope {
    const key = kvKeys.rate(kind, id);
    let s = this.scopes.get(key);
    if (!s) {
      const kv = this.opts.buckets?.rate;
      if (!kv) throw new Error('limiter KV is not available');
      s = new RateScope(new KvCell(kv, key, jsonCodec(emptyRateState)));
      this.scopes.set(key, s);
    }
    s.limits = limits; // an admin change reaches us through the principal cache
    return s;
  }

  private budgetCell(tenantId: string, period: BudgetPeriod, now: number): KvCell<BudgetState> {
    const key = kvKeys.budget(tenantId, periodId(period, now));
    let c = this.budgets.get(key);
    if (!c) {
      const kv = this.opts.buckets?.budget;
      if (!kv) throw new Error('budget KV is not available');
      const { db } = this.opts;
      // A counter that does not exist yet starts from what the ledger has charged in the period.
      c = new KvCell(
        kv,
        key,
        jsonCodec<BudgetState>(async () => ({ spent: await spentInPeriod(db, tenantId, period, now) })),
      );
      this.budgets.set(key, c);
    }
    return c;
  }

  private kvFailed(store: 'rate' | 'budget', err: Error): void {
    metrics.limiterErrors.inc({ store });
    if (Date.now() - this.lastWarn > 10_000) {
      this.lastWarn = Date.now();
      this.opts.log.warn(
        { err: err.message, store },
        store === 'rate' ? 'rate limiter KV unavailable: admitting (fail open)' : 'budget KV unavailable: refusing (fail closed)',
      );
    }
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.scopes.values()) s.returnLease();
  }
}

// ---- headers ----

/** OpenAI's duration format for x-ratelimit-reset-*: `1s`, `6m0s`, `250ms`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const s = Math.ceil(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}

function retryAfter(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(Math.max(0, Math.round(ms))) };
}

function windowHeaders(limits: RateLimits, out: AdmitOutcome): Record<string, string> {
  const h: Record<string, string> = {};
  if (limits.rpm !== undefined) {
    h['x-ratelimit-limit-requests'] = String(limits.rpm);
    h['x-ratelimit-remaining-requests'] = String(Math.max(0, limits.rpm - out.used.requests));
    h['x-ratelimit-reset-requests'] = formatReset(out.resetRequestsMs);
  }
  if (limits.tpm !== undefined) {
    h['x-ratelimit-limit-tokens'] = String(limits.tpm);
    h['x-ratelimit-remaining-tokens'] = String(Math.max(0, limits.tpm - out.used.tokens));
    h['x-ratelimit-reset-tokens'] = formatReset(out.resetTokensMs);
  }
  return h;
}

function successHeaders(admitted: Array<{ limits: RateLimits; out: AdmitOutcome }>): Record<string, string> {
  if (admitted.length === 0) return {};
  if (admitted.length === 1) return windowHeaders(admitted[0]!.limits, admitted[0]!.out);
  // Tenant and key both limited: report the tighter of the two per family.
  const hs = admitted.map((a) => windowHeaders(a.limits, a.out));
  const out: Record<string, string> = {};
  for (const family of ['requests', 'tokens']) {
    const candidates = hs.filter((h) => h[`x-ratelimit-remaining-${family}`] !== undefined);
    if (candidates.length === 0) continue;
    const best = candidates.reduce((a, b) =>
      Number(b[`x-ratelimit-remaining-${family}`]) < Number(a[`x-ratelimit-remaining-${family}`]) ? b : a,
    );
    for (const k of ['limit', 'remaining', 'reset']) out[`x-ratelimit-${k}-${family}`] = best[`x-ratelimit-${k}-${family}`]!;
  }
  return out;
}

function rateLimited(r: { limits: RateLimits; out: AdmitOutcome }, tokens: number): ApiError {
  const { limits, out } = r;
  const reason = out.reason!;
  metrics.rejections.inc({ reason });
  const waitMs = reason === 'requests' ? out.resetRequestsMs : reason === 'tokens' ? out.resetTokensMs : 1_000;
  const message =
    reason === 'requests'
      ? `Rate limit reached on requests per min (RPM): Limit ${limits.rpm}, Used ${out.used.requests}, Requested 1.`
      : reason === 'tokens'
        ? `Rate limit reached on tokens per min (TPM): Limit ${limits.tpm}, Used ${out.used.tokens}, Requested ${tokens}.`
        : `Too many concurrent requests: Limit ${limits.max_concurrency}, in flight ${out.used.concurrency}.`;
  return new ApiError(429, `${message} Please try again in ${formatReset(waitMs)}.`, {
    type: reason,
    code: 'rate_limit_exceeded',
    headers: { ...windowHeaders(limits, out), ...retryAfter(waitMs) },
  });
}
