// The cache key of a chat request: tenant id + SHA-256 of the normalized request. Normalized means the
// routed targets instead of the model name (an alias and its target share answers only if they route
// the same), and the body's semantic fields as canonical JSON (keys sorted at every level), without
// the fields that do not change the answer: `user`, and `stream` / `stream_options` (a streamed and a
// non-streamed request share one entry: both are rendered from the same stored answer).
import { createHash } from 'node:crypto';
import { responseCacheKey } from '../../../shared/nats/topology.ts';

const NOT_SEMANTIC = new Set(['model', 'user', 'stream', 'stream_options']);

export function requestCacheKey(tenantId: string, targets: ReadonlyArray<{ provider: string; model: string }>, body: object): string {
  const semantic: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!NOT_SEMANTIC.has(k) && v !== undefined) semantic[k] = v;
  // Sorted: a weighted alias draws its order per request, and the same set of targets is the same route.
  const route = targets.map((t) => `${t.provider}/${t.model}`).sort();
  const hash = createHash('sha256')
    .update(canonicalJson({ kind: 'chat', route, body: semantic }))
    .digest('hex');
  return responseCacheKey(tenantId, hash);
}

/** JSON with object keys sorted at every level, so `{a,b}` and `{b,a}` hash alike. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
