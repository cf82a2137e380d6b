// A request as it crosses LLM_REQUESTS: the body travels as the message payload, everything else
// in one `sy-envelope` header. The ingress encodes, the worker decodes, both here, so the two cannot drift.
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { H, type Priority } from './topology.ts';
import { decodeTargets, type RouteTarget } from '../protocol/targets.ts';

export interface RequestEnvelope {
  requestId: string;
  tenantId: string;
  /** Null for records not tied to one API key. */
  keyId: string | null;
  /** The ingress (or pseudo owner: batch, async) that reads the request's events. */
  ingressId: string;
  kind: 'chat' | 'embeddings';
  /** The first target: the queue the request was published to. */
  provider: string;
  /** Upstream model name, provider prefix stripped. */
  model: string;
  /** The model as the client named it (an alias, or `provider/model`). */
  publicModel: string;
  stream: boolean;
  priority: Priority;
  batchId: string | null;
  /** Epoch ms the ingress took the request. */
  receivedAt: number;
  /** Epoch ms after which nobody waits for the answer; 0: no deadline. */
  deadline: number;
  /** Every target in order, first = provider/model. */
  targets: RouteTarget[];
  /** The body's dialect: an OpenAI chat/embeddings body, or an Anthropic Messages body (POST /v1/messages). */
  wire?: 'openai' | 'anthropic';
  /** The client's `anthropic-beta` header (Messages requests only). */
  anthropicBeta?: string;
  /** Content guardrails for the worker to apply (during_call, post_call); empty: none. */
  guardrails?: string[];
}

/**
 * One `sy-envelope` header holding the envelope as JSON, only what differs from the defaults: fifteen
 * headers cost the ingress 9 µs to encode and the worker 13 µs to parse per request, one costs ~2 µs
 * (docs/benchmarks.md, "envelope1").
 */
export function encodeRequestHeaders(envelope: RequestEnvelope): MsgHdrs {
  const e: Partial<RequestEnvelope> = {
    requestId: envelope.requestId,
    tenantId: envelope.tenantId,
    ingressId: envelope.ingressId,
    provider: envelope.provider,
    model: envelope.model,
    publicModel: envelope.publicModel,
    receivedAt: envelope.receivedAt,
  };
  if (envelope.keyId) e.keyId = envelope.keyId;
  if (envelope.kind !== 'chat') e.kind = envelope.kind;
  if (envelope.stream) e.stream = true;
  if (envelope.batchId) e.batchId = envelope.batchId;
  if (envelope.deadline) e.deadline = envelope.deadline;
  if (envelope.targets.length > 1) e.targets = envelope.targets;
  if (envelope.priority !== 'interactive') e.priority = envelope.priority;
  if (envelope.wire === 'anthropic') e.wire = 'anthropic';
  if (envelope.anthropicBeta) e.anthropicBeta = envelope.anthropicBeta;
  if (envelope.guardrails?.length) e.guardrails = envelope.guardrails;
  const h = natsHeaders();
  // JSON escapes CR and LF, so no value can break the header block.
  h.set(H.envelope, JSON.stringify(e));
  return h;
}

/**
 * Reads what `encodeRequestHeaders` wrote (or an older publisher's `sy-*` headers); what is missing
 * takes its default. Null when the envelope is not JSON (not written by an ingress): nothing to run.
 */
export function decodeRequestEnvelope(h: Pick<MsgHdrs, 'get'>, now = Date.now()): RequestEnvelope | null {
  const json = h.get(H.envelope);
  if (!json) return decodeSeparateHeaders(h, now);
  let e: Partial<RequestEnvelope> & Pick<RequestEnvelope, 'provider' | 'model'>;
  try {
    e = JSON.parse(json) as typeof e;
  } catch {
    return null;
  }
  const { provider, model } = e;
  return {
    requestId: e.requestId ?? '',
    tenantId: e.tenantId ?? '',
    keyId: e.keyId || null,
    ingressId: e.ingressId ?? '',
    kind: e.kind === 'embeddings' ? 'embeddings' : 'chat',
    provider,
    model,
    publicModel: e.publicModel || `${provider}/${model}`,
    stream: e.stream === true,
    priority: e.priority ?? 'interactive',
    batchId: e.batchId || null,
    receivedAt: e.receivedAt || now,
    deadline: e.deadline || 0,
    targets: e.targets?.length ? e.targets : [{ provider, model }],
    ...(e.wire === 'anthropic' ? { wire: 'anthropic' as const } : {}),
    ...(e.anthropicBeta ? { anthropicBeta: e.anthropicBeta } : {}),
    ...(e.guardrails?.length ? { guardrails: e.guardrails } : {}),
  };
}

/** The header-per-field layout published before `sy-envelope` (messages still queued across an upgrade). */
function decodeSeparateHeaders(h: Pick<MsgHdrs, 'get'>, now: number): RequestEnvelope {
  const provider = h.get(H.provider);
  const model = h.get(H.model);
  const targets = h.get(H.targets);
  const guardrails = h.get(H.guardrails);
  return {
    requestId: h.get(H.requestId),
    tenantId: h.get(H.tenantId),
    keyId: h.get(H.keyId) || null,
    ingressId: h.get(H.ingressId),
    kind: h.get(H.kind) === 'embeddings' ? 'embeddings' : 'chat',
    provider,
    model,
    publicModel: h.get(H.publicModel) || `${provider}/${model}`,
    stream: h.get(H.stream) === '1',
    priority: (h.get(H.priority) || 'interactive') as Priority,
    batchId: h.get(H.batchId) || null,
    receivedAt: Number(h.get(H.receivedAt)) || now,
    deadline: Number(h.get(H.deadline)) || 0,
    targets: targets ? decodeTargets(targets) : [{ provider, model }],
    ...(h.get(H.wire) === 'anthropic' ? { wire: 'anthropic' as const } : {}),
    ...(h.get(H.anthropicBeta) ? { anthropicBeta: h.get(H.anthropicBeta) } : {}),
    ...(guardrails ? { guardrails: guardrails.split(',') } : {}),
  };
}
