// Rolling-window rate state of one scope (a tenant or a key), as stored in one KV value. Pure
// functions: the CAS loop in ./kv.ts may apply them several times.
//
// Requests and tokens are counted in 1-second buckets; a bucket counts until it is a whole window
// old (61 buckets are kept), so any 60-second interval holds at most the limit: never more, at the
// cost of freeing capacity up to 1 s late. Concurrency slots are held per process (`holder`) with
// an expiry that the holder refreshes, so a crashed process's slots free themselves.

export const WINDOW_SECONDS = 60;
/** A holder that has not refreshed its slots for this long is presumed dead. */
export const SLOT_TTL_MS = 30_000;

export interface RateLimits {
  rpm?: number;
  tpm?: number;
  max_concurrency?: number;
}

/** b: [second, requests, tokens][] oldest first; c: holder -> [slots, expiresAtMs]. */
export interface RateState {
  b: Array<[number, number, number]>;
  c?: Record<string, [number, number]>;
}

export type RejectReason = 'requests' | 'tokens' | 'concurrency';

export interface WindowUse {
  requests: number;
  tokens: number;
  concurrency: number;
}

export interface AdmitOutcome {
  ok: boolean;
  reason?: RejectReason;
  /** Use after this admission (including it when ok). */
  used: WindowUse;
  /** When a request (or `tokens` tokens) will fit again / the oldest counted bucket expires. */
  resetRequestsMs: number;
  resetTokensMs: number;
  /** Second bucket the admission (and its lease) was counted in. */
  sec: number;
  /** Extra capacity prepaid for this process beyond this request (requests, tokens). */
  leaseRequests: number;
  leaseTokens: number;
}

export function emptyRateState(): RateState {
  return { b: [] };
}

export function prune(s: RateState, now: number): void {
  const oldest = Math.floor(now / 1000) - WINDOW_SECONDS;
  let i = 0;
  while (i < s.b.length && s.b[i]![0] < oldest) i++;
  if (i > 0) s.b.splice(0, i);
  if (s.c) {
    for (const [holder, [n, exp]] of Object.entries(s.c)) if (n <= 0 || exp <= now) delete s.c[holder];
  }
}

export function usage(s: RateState, now: number): WindowUse {
  let requests = 0;
  let tokens = 0;
  for (const [, r, t] of s.b) {
    requests += r;
    tokens += t;
  }
  let concurrency = 0;
  if (s.c) for (const [n, exp] of Object.values(s.c)) if (exp > now) concurrency += n;
  return { requests, tokens, concurrency };
}

/** Milliseconds until `need` units of field (1 requests, 2 tokens) have left the window. */
export function freedAfterMs(s: RateState, now: number, field: 1 | 2, need: number): number {
  let freed = 0;
  for (const bucket of s.b) {
    freed += bucket[field];
    if (freed >= need) return Math.max(0, (bucket[0] + WINDOW_SECONDS + 1) * 1000 - now);
  }
  return WINDOW_SECONDS * 1000;
}

function bucketAt(s: RateState, sec: number): [number, number, number] {
  const last = s.b[s.b.length - 1];
  if (last && last[0] === sec) return last;
  const found = s.b.find((b) => b[0] === sec);
  if (found) return found;
  const b: [number, number, number] = [sec, 0, 0];
  s.b.push(b);
  s.b.sort((x, y) => x[0] - y[0]);
  return b;
}

export interface AdmitInput {
  tokens: number;
  /** Process holding a concurrency slot for the request (only with max_concurrency). */
  holder: string;
  /** Extra capacity to prepay for the same process (a lease), taken only if it fits. */
  wantRequests: number;
  wantTokens: number;
}

/** Admits one request if it fits every limit of the scope, counting it (and a lease) in the current second. */
export function admit(s: RateState, now: number, limits: RateLimits, input: AdmitInput): AdmitOutcome {
  prune(s, now);
  const sec = Math.floor(now / 1000);
  const u = usage(s, now);
  const tokens = limits.tpm ? Math.min(input.tokens, limits.tpm) : input.tokens;
  const out: AdmitOutcome = {
    ok: false,
    used: u,
    resetRequestsMs: freedAfterMs(s, now, 1, 1),
    resetTokensMs: freedAfterMs(s, now, 2, 1),
    sec,
    leaseRequests: 0,
    leaseTokens: 0,
  };
  if (limits.rpm !== undefined && u.requests + 1 > limits.rpm) {
    out.reason = 'requests';
    out.resetRequestsMs = freedAfterMs(s, now, 1, u.requests + 1 - limits.rpm);
    return out;
  }
  if (limits.tpm !== undefined && u.tokens + tokens > limits.tpm) {
    out.reason = 'tokens';
    out.resetTokensMs = freedAfterMs(s, now, 2, u.tokens + tokens - limits.tpm);
    return out;
  }
  if (limits.max_concurrency !== undefined && u.concurrency + 1 > limits.max_concurrency) {
    out.reason = 'concurrency';
    return out;
  }
  const leaseRequests = limits.rpm !== undefined ? Math.max(0, Math.min(input.wantRequests, limits.rpm - u.requests - 1)) : 0;
  const leaseTokens = limits.tpm !== undefined ? Math.max(0, Math.min(input.wantTokens, limits.tpm - u.tokens - tokens)) : 0;
  const b = bucketAt(s, sec);
  b[1] += 1 + leaseRequests;
  b[2] += tokens + leaseTokens;
  if (limits.max_concurrency !== undefined) {
    s.c ??= {};
    const slot = s.c[input.holder];
    s.c[input.holder] = [(slot?.[0] ?? 0) + 1, now + SLOT_TTL_MS];
  }
  out.ok = true;
  out.used = { requests: u.requests + 1 + leaseRequests, tokens: u.tokens + tokens + leaseTokens, concurrency: u.concurrency + 1 };
  out.leaseRequests = leaseRequests;
  out.leaseTokens = leaseTokens;
  return out;
}

/**
 * Corrects what was counted in second `sec`: a returned lease, or real tokens replacing an
 * estimate. Buckets already out of the window are left alone (nothing left to correct).
 */
export function adjust(s: RateState, now: number, sec: number, requests: number, tokens: number): void {
  prune(s, now);
  const b = s.b.find((x) => x[0] === sec);
  if (!b) return;
  b[1] = Math.max(0, b[1] + requests);
  b[2] = Math.max(0, b[2] + tokens);
}

/** Releases `n` slots of `holder`, and refreshes the expiry of the rest. */
export function releaseSlots(s: RateState, now: number, holder: string, n: number): void {
  prune(s, now);
  const slot = s.c?.[holder];
  if (!slot) return;
  slot[0] -= n;
  slot[1] = now + SLOT_TTL_MS;
  if (slot[0] <= 0) delete s.c![holder];
}

/** The holder is alive and still holds `n` slots (sets the count: heals a count lost to a lapse). */
export function refreshSlots(s: RateState, now: number, holder: string, n: number): void {
  prune(s, now);
  if (n <= 0) {
    if (s.c) delete s.c[holder];
    return;
  }
  s.c ??= {};
  s.c[holder] = [n, now + SLOT_TTL_MS];
}
