// The response cache's pure parts: how the key is built, which requests use the cache, and how a
// stored answer becomes a message or a list of deltas.
import { describe, expect, it } from 'vitest';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import { canonicalJson, requestCacheKey } from '../../services/ingress/response-cache/request-key.ts';
import { cacheTtlOf } from '../../services/ingress/response-cache/policy.ts';
import { deltasOf, messageOf, type CachedAnswer } from '../../services/ingress/response-cache/answer.ts';
import { ResponseCache } from '../../services/ingress/response-cache/response-cache.ts';
import type { ChatResultEvent } from '../../shared/protocol/events.ts';
import { metrics } from '../../shared/telemetry/metrics.ts';

const openai = [{ provider: 'openai', model: 'gpt-4o-mini' }];
const messages = [{ role: 'user', content: 'hi' }];

describe('requestCacheKey', () => {
  it('is the tenant id, a dot and a hex SHA-256', () => {
    expect(requestCacheKey('tenant_a', openai, { messages })).toMatch(/^tenant_a\.[0-9a-f]{64}$/);
  });

  it('ignores key order, user, stream and stream_options, and the model name (the route counts)', () => {
    const base = requestCacheKey('t', openai, { model: 'fast', messages, temperature: 0 });
    expect(requestCacheKey('t', openai, { temperature: 0, messages, model: 'openai/gpt-4o-mini' })).toBe(base);
    expect(
      requestCacheKey('t', openai, { messages, temperature: 0, user: 'u', stream: true, stream_options: { include_usage: true } }),
    ).toBe(base);
  });

  it('changes with the tenant, the route and every semantic field', () => {
    const base = requestCacheKey('t', openai, { messages, temperature: 0 });
    expect(requestCacheKey('u', openai, { messages, temperature: 0 })).not.toBe(base);
    expect(requestCacheKey('t', [{ provider: 'openai', model: 'gpt-4o' }], { messages, temperature: 0 })).not.toBe(base);
    expect(requestCacheKey('t', openai, { messages, temperature: 1 })).not.toBe(base);
    expect(requestCacheKey('t', openai, { messages, temperature: 0, max_tokens: 5 })).not.toBe(base);
  });

  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
  });
});

describe('cacheTtlOf', () => {
  const p = (keyCache?: { ttl_seconds: number } | null, tenantCache?: { ttl_seconds: number } | null) =>
    ({ tenantId: 't', keyId: 'k', keyCache, tenantCache }) as KeyPrincipal;

  it('off without header and settings', () => expect(cacheTtlOf(undefined, p(), 100)).toBeNull());
  it('the header wins: a TTL, capped; no-store', () => {
    expect(cacheTtlOf('30', p(null, { ttl_seconds: 5 }), 100)).toBe(30);
    expect(cacheTtlOf('3000', p(), 100)).toBe(100);
    expect(cacheTtlOf('No-Store', p({ ttl_seconds: 5 }), 100)).toBeNull();
  });
  it('the key wins over the tenant; 0 turns it off', () => {
    expect(cacheTtlOf(undefined, p(null, { ttl_seconds: 5 }), 100)).toBe(5);
    expect(cacheTtlOf(undefined, p({ ttl_seconds: 7 }, { ttl_seconds: 5 }), 100)).toBe(7);
    expect(cacheTtlOf(undefined, p({ ttl_seconds: 0 }, { ttl_seconds: 5 }), 100)).toBeNull();
  });
  it('a bad header is a 400 naming it', () => {
    expect(() => cacheTtlOf('-1', p(), 100)).toThrow(expect.objectContaining({ status: 400, code: 'invalid_cache_header' }));
    expect(() => cacheTtlOf('1.5', p(), 100)).toThrow(expect.objectContaining({ param: 'x-switchyard-cache' }));
  });
});

describe('stored answers', () => {
  const base = { v: 1, expires_at: 0, provider: 'openai', target: 'openai/gpt-4o-mini', finish_reason: 'tool_calls' } as const;
  const usage = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };

  it('stream deltas add up to one message, tool calls joined by index', () => {
    const answer: CachedAnswer = {
      ...base,
      usage,
      deltas: [
        { content: 'a' },
        { content: 'b' },
        { tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x"' } }] },
        { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] },
      ],
    };
    expect(messageOf(answer)).toEqual({
      role: 'assistant',
      content: 'ab',
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }],
    });
    expect(deltasOf(answer)).toBe(answer.deltas);
  });

  it('a JSON answer replays as one delta', () => {
    const answer: CachedAnswer = { ...base, usage, message: { role: 'assistant', content: 'whole' } };
    expect(deltasOf(answer)).toEqual([{ content: 'whole' }]);
    expect(messageOf(answer)).toBe(answer.message);
  });
});

describe('ResponseCache.storeResult', () => {
  // A NATS connection that fails the test if the cache touches it: refused answers never reach KV.
  const untouchable = new Proxy({}, { get: () => expect.unreachable('the KV bucket was used') });
  const config = { RESPONSE_CACHE_MAX_TTL_SECONDS: 60, RESPONSE_CACHE_TIMEOUT_MS: 100, RESPONSE_CACHE_MAX_ENTRY_BYTES: 200 };
  const cache = new ResponseCache({
    nats: { nc: untouchable, js: untouchable } as never,
    config: config as never,
    log: { warn: () => {}, info: () => {}, error: () => {} } as never,
  });
  const ticket = { key: 't.abc', ttlSeconds: 60, deltas: [] };
  const result = (content: string, finish_reason: string): ChatResultEvent => ({
    type: 'result',
    kind: 'chat',
    seq: 1,
    attempt: 1,
    message: { role: 'assistant', content },
    finish_reason,
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    provider: 'openai',
    model: 'gpt-4o-mini',
  });
  const stores = async (r: string) => (await metrics.cacheStores.get()).values.find((v) => v.labels.result === r)?.value ?? 0;

  it('does not store an answer above RESPONSE_CACHE_MAX_ENTRY_BYTES', async () => {
    const before = await stores('too_large');
    cache.storeResult(ticket, result('x'.repeat(500), 'stop'));
    expect(await stores('too_large')).toBe(before + 1);
  });

  it('does not store an answer that did not finish with stop, length or tool_calls', async () => {
    const before = await stores('not_cacheable');
    cache.storeResult(ticket, result('short', 'content_filter'));
    expect(await stores('not_cacheable')).toBe(before + 1);
  });
});
