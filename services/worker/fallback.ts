// Routing policy inside a worker: walk a request's targets (alias order, published by the ingress in
// the request envelope) until one answers. Move on when the target fails in a way another target
// may not (retryable status, rate limit, timeout, connection error, context window too small, a request
// field the target refuses) or its circuit breaker is open — but never once a token reached the client
// (the answer would repeat).
import { upstreamFailure, type UpstreamError } from '../../shared/providers/types.ts';
import { errors } from '../../shared/protocol/errors.ts';
import { isUnsupportedParameter } from '../../shared/providers/request-fields.ts';
import { metrics } from '../../shared/telemetry/metrics.ts';
import { targetLabels } from '../../shared/telemetry/target-labels.ts';
import type { RouteTarget } from '../../shared/protocol/targets.ts';
import type { Breakers } from './breaker.ts';

const CONTEXT_WINDOW = /context[_ -]?(length|window)|maximum context|too many tokens|prompt is too long|input is too long|token limit/i;

export function isContextWindowError(f: UpstreamError): boolean {
  if (f.error.code === 'context_length_exceeded') return true;
  return (f.status === 400 || f.status === 413) && CONTEXT_WINDOW.test(f.error.message);
}

/** Worth trying the next target? */
export function shouldFallback(f: UpstreamError): boolean {
  // A field this target refuses (shared/providers/request-fields.ts) may be one the next target takes.
  return f.retryable || isContextWindowError(f) || isUnsupportedParameter(f.error.code);
}

/** Does this failure say the target is unhealthy (breaker), rather than busy or the request bad? */
export function isHealthFailure(f: UpstreamError): boolean {
  // Upstream 401/403 arrive as 502 (our provider key is wrong): a configuration error, not an outage.
  if (/auth|permission/i.test(f.error.type) || /permission|auth/i.test(f.error.code ?? '')) return false;
  return f.status >= 500 && f.status !== 501;
}

export function targetName(t: RouteTarget): string {
  return `${t.provider}/${t.model}`;
}

export interface WalkState {
  /** `provider/model` being tried. */
  target: string;
  /** Another target is left: the attempt should fail fast rather than retry the same one. */
  hasFallback: boolean;
  /** A token reached the client: no more switching. */
  spoke: boolean;
  cancelled: boolean;
}

export const circuitOpen = (target: string): UpstreamError => upstreamFailure(errors.circuitOpen(target), true);

/**
 * Runs `attempt` on each target in turn. `toFailure` classifies what an attempt threw. Returns the
 * served target and the attempt's result; throws the last failure when no target is left.
 */
export async function walkTargets<T>(
  targets: RouteTarget[],
  state: WalkState,
  breakers: Breakers,
  toFailure: (err: unknown) => UpstreamError,
  attempt: (t: RouteTarget) => Promise<T>,
  wrap: (f: UpstreamError) => Error,
): Promise<{ target: RouteTarget; result: T }> {
  let lastErr: unknown = null;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    const name = targetName(t);
    const last = i === targets.length - 1;
    if (!breakers.allow(name)) {
      metrics.fallbacks.inc({ from: targetLabels.label(name), reason: 'circuit_open' });
      if (!last) continue;
      throw lastErr ?? wrap(circuitOpen(name));
    }
    state.target = name;
    state.hasFallback = !last;
    try {
      return { target: t, result: await attempt(t) };
    } catch (err) {
      lastErr = err;
      if (last || state.cancelled || state.spoke) throw err;
      const f = toFailure(err);
      if (!shouldFallback(f)) throw err;
      metrics.fallbacks.inc({
        from: targetLabels.label(name),
        reason: isContextWindowError(f) ? 'context_window' : f.status === 429 ? 'rate_limited' : f.status === 504 ? 'timeout' : 'error',
      });
    }
  }
  throw lastErr;
}
