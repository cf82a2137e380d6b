// Failures the request itself caused, told apart from failures of the upstream. Only the upstream's
// (connect errors, timeouts, 429, 5xx) may count toward breakers, fallbacks and retries: a hostile or
// broken body must fail for its sender alone, or one tenant could open a model's breaker for all.
import { AdapterError, upstreamFailure, type UpstreamError } from '../../shared/providers/types.ts';
import { errors } from '../../shared/protocol/errors.ts';

export function requestFault(provider: string, err: unknown): UpstreamError {
  const detail = err instanceof Error ? err.message : String(err);
  return upstreamFailure(errors.requestNotTranslatable(provider, detail.slice(0, 300)));
}

/**
 * Runs an adapter's request translation. Anything it throws (a stack overflow on a deeply nested
 * field, a value JSON cannot serialise) is the request's fault: a 400, never retried or counted.
 */
export async function translateRequest<T>(provider: string, build: () => T | Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (err) {
    if (err instanceof AdapterError) throw err;
    throw new AdapterError(requestFault(provider, err));
  }
}
