// Exact-match response cache for chat completions (docs/caching.md). The chat route asks `lookup()`
// before it publishes; a hit is answered here (JSON or a replayed SSE stream) without any upstream
// call and recorded in the ledger at zero cost; a miss is stored once the worker's answer is complete.
// A tenant, key and request that do not ask for caching cost one header read and two property reads.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SwitchyardConfig } from '../../../shared/config/env.ts';
import type { KeyPrincipal } from '../../../shared/db/api-keys.ts';
import type { Nats } from '../../../shared/nats/connection.ts';
import type { ChatResultEvent, ChunkDelta, DoneEvent, UsageRecord } from '../../../shared/protocol/events.ts';
import { metrics } from '../../../shared/telemetry/metrics.ts';
import type { Logger } from '../../../shared/telemetry/logger.ts';
import { UsagePublisher } from '../../worker/usage-publisher.ts';
import { ChunkWriter, chatCompletionBody, SSE_DONE, sseHeaders } from '../render.ts';
import { CACHEABLE_FINISH_REASONS, deltasOf, messageOf, type CachedAnswer } from './answer.ts';
import { principalOf } from '../principal.ts';
import { CACHE_HEADER, cacheTtlOf } from './policy.ts';
import { requestCacheKey } from './request-key.ts';
import { ResponseCacheStore } from './store.ts';

export { CACHE_HEADER };

/** One request that uses the cache: its key, its TTL, and (streams) the deltas seen so far. */
export interface CacheTicket {
  key: string;
  ttlSeconds: number;
  deltas: ChunkDelta[];
}

export interface ResponseCacheOptions {
  nats: Nats;
  config: SwitchyardConfig;
  log: Logger;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class ResponseCache {
  private readonly store: ResponseCacheStore;
  private readonly config: SwitchyardConfig;
  private readonly nats: Nats;
  private readonly log: Logger;
  /** Created at the first hit: an ingress that never serves one publishes no usage itself. */
  private usage: UsagePublisher | null = null;

  constructor(opts: ResponseCacheOptions) {
    this.config = opts.config;
    this.nats = opts.nats;
    this.log = opts.log;
    this.store = new ResponseCacheStore(opts.nats.nc, {
      maxTtlSeconds: opts.config.RESPONSE_CACHE_MAX_TTL_SECONDS,
      timeoutMs: opts.config.RESPONSE_CACHE_TIMEOUT_MS,
      log: opts.log,
    });
  }

  /** The request's ticket, or null when neither the request, the key nor the tenant asks for caching. */
  ticketFor(
    req: FastifyRequest,
    principal: KeyPrincipal,
    targets: ReadonlyArray<{ provider: string; model: string }>,
    body: object,
  ): CacheTicket | null {
    const ttlSeconds = cacheTtlOf(req.headers[CACHE_HEADER], principal, this.config.RESPONSE_CACHE_MAX_TTL_SECONDS);
    if (ttlSeconds === null) return null;
    return { key: requestCacheKey(principal.tenantId, targets, body), ttlSeconds, deltas: [] };
  }

  /** The stored answer, or null on a miss; a KV failure is a miss too (logged, counted as `error`). */
  async lookup(ticket: CacheTicket): Promise<CachedAnswer | null> {
    let bytes: Uint8Array | null;
    try {
      bytes = await this.store.get(ticket.key);
    } catch (err) {
      this.store.noteFailure(err, 'get');
      metrics.cacheLookups.inc({ result: 'error' });
      return null;
    }
    const answer = bytes ? parseAnswer(bytes) : null;
    const hit = answer !== null && answer.expires_at > Date.now();
    metrics.cacheLookups.inc({ result: hit ? 'hit' : 'miss' });
    return hit ? answer : null;
  }

  /** A non-streamed answer, stored if complete (fire and forget: the client is not kept waiting). */
  storeResult(ticket: CacheTicket, ev: ChatResultEvent): void {
    this.save(ticket, ev, { message: ev.message });
  }

  /** A streamed answer: the deltas collected on the ticket, stored if the stream ended complete. */
  storeStream(ticket: CacheTicket, ev: DoneEvent): void {
    this.save(ticket, ev, { deltas: ticket.deltas });
  }

  /** Answers a hit as the chat route would have (JSON body returned, or the SSE stream written). */
  serveHit(req: FastifyRequest, reply: FastifyReply, answer: CachedAnswer, publicModel: string, stream: boolean, includeUsage: boolean) {
    const principal = principalOf(req);
    req.usage = answer.usage;
    this.recordHit(req.id, principal, publicModel, answer);
    const id = `chatcmpl-${req.id.slice(4)}`;
    const created = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      [CACHE_HEADER]: 'hit',
      'x-switchyard-provider': answer.provider,
      'x-switchyard-attempts': '0',
    };
    if (answer.simulated) headers['x-switchyard-simulated'] = 'true';
    if (!stream) {
      reply.headers(headers);
      const [provider, model] = splitTarget(answer.target);
      const ev: ChatResultEvent = {
        type: 'result',
        kind: 'chat',
        seq: 0,
        attempt: 0,
        message: messageOf(answer),
        finish_reason: answer.finish_reason,
        usage: answer.usage,
        provider,
        model,
      };
      return chatCompletionBody(id, created, publicModel, ev);
    }
    const writer = new ChunkWriter(id, created, publicModel, includeUsage);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...sseHeaders(req.id), ...headers });
    let frames = writer.delta({ role: 'assistant', content: '' });
    for (const d of deltasOf(answer)) frames += writer.delta(d);
    frames += writer.finish(answer.finish_reason);
    if (includeUsage) frames += writer.usage(answer.usage);
    res.end(frames + SSE_DONE);
    return undefined;
  }

  close(): void {
    void this.usage?.close();
  }

  private save(ticket: CacheTicket, ev: ChatResultEvent | DoneEvent, content: Pick<CachedAnswer, 'message' | 'deltas'>): void {
    if (!ev.finish_reason || !CACHEABLE_FINISH_REASONS.has(ev.finish_reason)) {
      metrics.cacheStores.inc({ result: 'not_cacheable' });
      return;
    }
    const answer: CachedAnswer = {
      v: 1,
      expires_at: Date.now() + ticket.ttlSeconds * 1000,
      provider: ev.provider,
      target: ev.target ?? `${ev.provider}/${ev.model}`,
      finish_reason: ev.finish_reason,
      usage: ev.usage,
      ...content,
    };
    if (ev.simulated) answer.simulated = true;
    const bytes = enc.encode(JSON.stringify(answer));
    if (bytes.length > this.config.RESPONSE_CACHE_MAX_ENTRY_BYTES) {
      metrics.cacheStores.inc({ result: 'too_large' });
      return;
    }
    this.store.put(ticket.key, bytes).then(
      () => metrics.cacheStores.inc({ result: 'stored' }),
      (err: unknown) => {
        this.store.noteFailure(err, 'put');
        metrics.cacheStores.inc({ result: 'error' });
      },
    );
  }

  /** The ledger row of a hit: the answer's tokens, no upstream call, cost 0, marked cache_hit. */
  private recordHit(requestId: string, principal: KeyPrincipal, publicModel: string, answer: CachedAnswer): void {
    const [provider, model] = splitTarget(answer.target);
    const now = new Date().toISOString();
    const u = answer.usage;
    const record: UsageRecord = {
      request_id: requestId,
      tenant_id: principal.tenantId,
      key_id: principal.keyId,
      provider,
      model: publicModel,
      upstream_model: model,
      kind: 'chat',
      status: 'ok',
      input_tokens: u.prompt_tokens,
      cached_input_tokens: u.prompt_tokens_details?.cached_tokens ?? 0,
      output_tokens: u.completion_tokens,
      reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
      cost_usd: 0,
      attempts: 0,
      error_code: null,
      batch_id: null,
      received_at: now,
      first_token_at: null,
      completed_at: now,
      cache_hit: true,
    };
    this.usage ??= new UsagePublisher(this.nats.nc, this.log);
    this.usage.publish(record).catch((err: unknown) => this.log.error({ err, reqId: requestId }, 'usage of a cache hit not recorded'));
  }
}

function splitTarget(target: string): [string, string] {
  const slash = target.indexOf('/');
  return [target.slice(0, slash), target.slice(slash + 1)];
}

function parseAnswer(bytes: Uint8Array): CachedAnswer | null {
  try {
    const a = JSON.parse(dec.decode(bytes)) as CachedAnswer;
    return a.v === 1 && (a.message || a.deltas) ? a : null;
  } catch {
    return null;
  }
}
