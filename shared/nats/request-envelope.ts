// A request as it crosses LLM_REQUESTS: the body travels as the message payload, everything else
// as `sy-*` headers. The ingress encodes, the worker decodes, both here, so the two cannot drift.
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { H, type Priority } from './topology.ts';
import { decodeTargets, encodeTargets, type RouteTarget } from '../protocol/targets.ts';

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

/** Only what differs from the defaults is sent: a plain interactive request carries the fewest bytes. */
export function encodeRequestHeaders(envelope: RequestEnvelope): MsgHdrs {
  const h = natsHeaders();
  h.set(H.requestId, envelope.requestId);
  h.set(H.tenantId, envelope.tenantId);
  h.set(H.keyId, envelope.keyId ?? '');
  h.set(H.ingressId, envelope.ingressId);
  h.set(H.kind, envelope.kind);
  h.set(H.provider, envelope.provider);
  h.set(H.model, envelope.model);
  h.set(H.publicModel, envelope.publicModel);
  h.set(H.receivedAt, String(envelope.receivedAt));
  if (envelope.stream) h.set(H.stream, '1');
  if (envelope.batchId) h.set(H.batchId, envelope.batchId);
  if (envelope.deadline) h.set(H.deadline, String(envelope.deadline));
  if (envelope.targets.length > 1) h.set(H.targets, encodeTargets(envelope.targets));
  if (envelope.priority !== 'interactive') h.set(H.priority, envelope.priority);
  if (envelope.wire === 'anthropic') h.set(H.wire, 'anthropic');
  if (envelope.anthropicBeta) h.set(H.anthropicBeta, envelope.anthropicBeta);
  if (envelope.guardrails?.length) h.set(H.guardrails, envelope.guardrails.join(','));
  return h;
}

/** Reads what `encodeRequestHeaders` wrote; a missing header takes its default (`get` answers ''). */
export function decodeRequestEnvelope(h: Pick<MsgHdrs, 'get'>, now = Date.now()): RequestEnvelope {
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
