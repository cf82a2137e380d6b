// Content guardrails at the ingress: which ones apply to the caller, the pre_call checks before the
// request is queued (a masked body is what gets published), the `x-switchyard-guardrails` header, and
// the usage row of a request refused here. during_call and post_call run in the worker
// (services/worker/output-guard.ts), which gets their names in the request envelope.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { JetStreamClient } from '@nats-io/jetstream';
import { subjects } from '../../shared/nats/topology.ts';
import { storedColumns, usageHeaders } from '../../shared/nats/usage-message.ts';
import { errors } from '../../shared/protocol/errors.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';
import { checkRequest, type GuardrailRegistry } from '../../shared/guardrails/registry.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { principalOf } from './principal.ts';
import type { Route } from './routing.ts';

export const GUARDRAILS_HEADER = 'x-switchyard-guardrails';

declare module 'fastify' {
  interface FastifyRequest {
    /** Content guardrails for the worker, set by IngressGuardrails.beforeQueue (async requests read it). */
    workerGuardrails?: readonly string[];
  }
}

export interface GuardedRequest {
  /** The body to queue: the client's, or a masked copy (then `req.rawBody` holds its JSON too). */
  body: ChatCompletionRequest;
  /** Names for the worker (during_call, post_call). */
  workerGuardrails: readonly string[];
}

/** Per surface: what check() needs beyond the body. */
export interface CheckOptions {
  /** The id the usage row of a refusal is recorded under (default: the HTTP request's). */
  requestId?: string;
  kind?: 'chat' | 'embeddings';
  /** A batch line's refusal is recorded with its batch. */
  batchId?: string;
  /** Set when the answer reaches the client in a form post_call cannot read: names the surface for the 400. */
  uncheckableAnswer?: string;
}

/** Who is asking: an HTTP key's principal, or a batch's tenant and key (services/batch/runner.ts). */
export type GuardrailPrincipal = Pick<KeyPrincipal, 'tenantId' | 'keyId' | 'tenantGuardrails' | 'keyGuardrails'>;

/** What applies to one request, whatever surface it came from. */
export interface GuardrailCheck {
  /** Every guardrail name that applies (the `x-switchyard-guardrails` header). */
  names: readonly string[];
  workerGuardrails: readonly string[];
  /** The client's JSON with masked text; null when nothing was masked. */
  masked: Record<string, unknown> | null;
}

export class IngressGuardrails {
  readonly registry: GuardrailRegistry;
  private readonly js: JetStreamClient;
  private readonly log: Logger;

  constructor(registry: GuardrailRegistry, js: JetStreamClient, log: Logger) {
    this.registry = registry;
    this.js = js;
    this.log = log;
  }

  /**
   * Runs the caller's pre_call guardrails. Null when none apply (the common case costs two array
   * checks). Throws 400 guardrail_blocked, or 503 guardrail_unavailable for a guardrail that fails
   * closed, after recording the refused request in the usage ledger.
   */
  async beforeQueue(req: FastifyRequest, reply: FastifyReply, body: ChatCompletionRequest, route: Route): Promise<GuardedRequest | null> {
    // The client's JSON, not the validated copy: masking must not drop fields the schema does not list.
    const raw = (req.body ?? body) as Record<string, unknown>;
    const checked = await this.guard(req, reply, raw, body.model, route);
    if (!checked) return null;
    if (checked.masked) req.rawBody = Buffer.from(JSON.stringify(checked.masked));
    return { body: (checked.masked as unknown as ChatCompletionRequest | null) ?? body, workerGuardrails: checked.workerGuardrails };
  }

  /**
   * check() for an HTTP route that queues `raw` (the client's JSON, or the chat body a route built
   * from it): sets the header (on refusals too) and `req.workerGuardrails`. Null, synchronously, when
   * no guardrail applies, so a route need not await anything then.
   */
  guard(
    req: FastifyRequest,
    reply: FastifyReply,
    raw: Record<string, unknown>,
    model: string,
    route: Route,
    opts: CheckOptions = {},
  ): Promise<GuardrailCheck> | null {
    const principal = principalOf(req);
    const checking = this.check(principal, opts.requestId ?? req.id, raw, model, route, req.log, opts);
    if (!checking) return null;
    return checking.then(
      (checked) => {
        void reply.header(GUARDRAILS_HEADER, checked.names.join(','));
        req.workerGuardrails = checked.workerGuardrails;
        return checked;
      },
      (err: unknown) => {
        void reply.header(GUARDRAILS_HEADER, this.registry.attachedTo(principal).join(','));
        throw err;
      },
    );
  }

  /**
   * The surface-independent part (HTTP and WebSocket): null, synchronously, when no guardrail
   * applies. No await in that case matters on a WebSocket: a create and its cancel in the same read
   * must see the create queued (and answered `accepted`) first, as without guardrails.
   */
  check(
    principal: GuardrailPrincipal,
    requestId: string,
    raw: Record<string, unknown>,
    model: string,
    route: Route,
    log: Pick<FastifyBaseLogger, 'warn'>,
    opts: CheckOptions = {},
  ): Promise<GuardrailCheck> | null {
    const names = this.registry.attachedTo(principal, (name) =>
      log.warn({ guardrail: name, tenantId: principal.tenantId }, 'attached guardrail is not defined in the config file; skipped'),
    );
    if (names.length === 0) return null;
    return this.runChecks(principal, requestId, raw, model, route, names, opts);
  }

  private async runChecks(
    principal: GuardrailPrincipal,
    requestId: string,
    raw: Record<string, unknown>,
    model: string,
    route: Route,
    names: readonly string[],
    opts: CheckOptions,
  ): Promise<GuardrailCheck> {
    const kind = opts.kind ?? 'chat';
    if (opts.uncheckableAnswer) {
      // Fail closed: an answer post_call cannot read must not reach the client as if it had been checked.
      const post = this.registry.inMode(names, 'post_call')[0];
      if (post) {
        await this.recordRefused(principal, requestId, model, route, kind, 'guardrail_not_applicable', opts.batchId);
        throw errors.guardrailNotApplicable(post.name, opts.uncheckableAnswer);
      }
    }
    let masked: Record<string, unknown> | null = null;
    const pre = this.registry.inMode(names, 'pre_call');
    if (pre.length > 0) {
      const copy = structuredClone(raw);
      const ctx = { requestId, tenantId: principal.tenantId, keyId: principal.keyId, model };
      const verdict = await checkRequest(pre, 'pre_call', copy, ctx);
      if (verdict.violation) {
        const v = verdict.violation;
        await this.recordRefused(
          principal,
          requestId,
          model,
          route,
          kind,
          v.unavailable ? 'guardrail_unavailable' : 'guardrail_blocked',
          opts.batchId,
        );
        throw v.unavailable ? errors.guardrailUnavailable(v.guardrail, v.reason) : errors.guardrailBlocked(v.guardrail, v.reason);
      }
      if (verdict.masked) masked = copy;
    }
    const workerGuardrails = names.filter((n) => {
      const g = this.registry.get(n);
      return g !== undefined && (g.modes.has('post_call') || g.modes.has('during_call'));
    });
    return { names, workerGuardrails, masked };
  }

  /** A refused request never reaches a worker: its usage row (zero tokens, zero cost) is written from here. */
  private async recordRefused(
    principal: GuardrailPrincipal,
    requestId: string,
    model: string,
    route: Route,
    kind: 'chat' | 'embeddings',
    errorCode: string,
    batchId?: string,
  ): Promise<void> {
    const now = new Date().toISOString();
    const record: UsageRecord = {
      request_id: requestId,
      tenant_id: principal.tenantId,
      key_id: principal.keyId,
      provider: route.provider,
      model,
      upstream_model: route.model,
      kind,
      status: 'blocked',
      input_tokens: 0,
      cached_input_tokens: 0,
      output_tokens: 0,
      reasoning_tokens: 0,
      cost_usd: 0,
      attempts: 0,
      error_code: errorCode,
      batch_id: batchId ?? null,
      received_at: now,
      first_token_at: null,
      completed_at: now,
    };
    try {
      await this.js.publish(subjects.usage(principal.tenantId), JSON.stringify([record]), {
        msgID: `usage:${requestId}`,
        headers: usageHeaders(storedColumns(record)),
      });
    } catch (err) {
      // The client's answer does not depend on the ledger; the refusal is still counted in the metrics.
      this.log.warn({ err, requestId }, 'usage record of a guardrail refusal could not be published');
    }
  }
}

/** For a hijacked reply (SSE writes its own head): the header guard() set, if any. */
export function guardrailsHeader(reply: FastifyReply): Record<string, string> {
  const names = reply.getHeader(GUARDRAILS_HEADER);
  return names === undefined ? {} : { [GUARDRAILS_HEADER]: String(names) };
}
