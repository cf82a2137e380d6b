// Whether a request uses the response cache, and for how long it keeps the answer. In order:
// the request header `x-switchyard-cache: no-store | <ttl seconds>`, the key's `cache` setting, the
// tenant's. `ttl_seconds: 0` (or `no-store`) turns caching off at that level. TTLs are capped at
// RESPONSE_CACHE_MAX_TTL_SECONDS. Cheap when unused: no header and no settings is two property reads.
import type { KeyPrincipal } from '../../../shared/db/api-keys.ts';
import { errors } from '../../../shared/protocol/errors.ts';

export const CACHE_HEADER = 'x-switchyard-cache';

/** The TTL in seconds for this request's answer, or null when it does not use the cache. */
export function cacheTtlOf(header: string | string[] | undefined, principal: KeyPrincipal, maxTtlSeconds: number): number | null {
  let ttl: number | undefined;
  if (header !== undefined) {
    const value = (Array.isArray(header) ? header[0]! : header).trim();
    if (value.toLowerCase() === 'no-store') return null;
    if (!/^\d{1,9}$/.test(value)) throw errors.invalidCacheHeader(value);
    ttl = Number(value);
  } else {
    ttl = (principal.keyCache ?? principal.tenantCache)?.ttl_seconds;
  }
  if (!ttl) return null;
  return Math.min(ttl, maxTtlSeconds);
}
