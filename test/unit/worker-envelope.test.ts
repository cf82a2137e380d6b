import { describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { MsgHdrsImpl } from '@nats-io/nats-core/internal';
import { decodeRequestEnvelope, encodeRequestHeaders, type RequestEnvelope } from '../../shared/nats/request-envelope.ts';
import { H } from '../../shared/nats/topology.ts';

const full: RequestEnvelope = {
  requestId: 'req-1',
  tenantId: 'tenant-1',
  keyId: 'key-1',
  ingressId: 'ing-1',
  kind: 'embeddings',
  provider: 'openai',
  model: 'gpt-4o-mini',
  publicModel: 'fast',
  stream: true,
  priority: 'batch',
  batchId: 'batch_1',
  receivedAt: 1_700_000_000_000,
  deadline: 1_700_000_060_000,
  targets: [
    { provider: 'openai', model: 'gpt-4o-mini' },
    { provider: 'anthropic', model: 'claude-haiku' },
  ],
};

describe('request envelope', () => {
  it('decodes what it encodes', () => {
    expect(decodeRequestEnvelope(encodeRequestHeaders(full))).toEqual(full);
  });

  it('leaves defaults out of the headers and restores them on decode', () => {
    const plain: RequestEnvelope = {
      ...full,
      kind: 'chat',
      stream: false,
      priority: 'interactive',
      batchId: null,
      deadline: 0,
      targets: [{ provider: 'openai', model: 'gpt-4o-mini' }],
    };
    const h = encodeRequestHeaders(plain);
    const sent = JSON.parse(h.get(H.envelope)) as Record<string, unknown>;
    for (const absent of ['kind', 'stream', 'priority', 'batchId', 'deadline', 'targets', 'wire', 'anthropicBeta', 'guardrails'])
      expect(sent).not.toHaveProperty(absent);
    expect(decodeRequestEnvelope(h)).toEqual(plain);
  });

  it("carries an Anthropic Messages body's wire format and anthropic-beta header", () => {
    const messages: RequestEnvelope = { ...full, kind: 'chat', wire: 'anthropic', anthropicBeta: 'interleaved-thinking-2025-05-14' };
    const h = encodeRequestHeaders(messages);
    expect(JSON.parse(h.get(H.envelope))).toMatchObject({ wire: 'anthropic' });
    expect(decodeRequestEnvelope(h)).toEqual(messages);
  });

  it('travels as one header, whatever the tenant put in its model name or guardrail list', () => {
    const hostile: RequestEnvelope = { ...full, publicModel: 'a\r\nsy-tenant: other\r\n', guardrails: ['x,y', 'z'] };
    const h = encodeRequestHeaders(hostile);
    expect([...h.keys()]).toEqual([H.envelope]);
    // What a worker decodes after the headers went over the wire and were parsed again.
    const wire = MsgHdrsImpl.decode((h as MsgHdrsImpl).encode());
    expect(wire.get(H.tenantId)).toBe('');
    expect(decodeRequestEnvelope(wire)).toEqual(hostile);
  });

  it('answers null for an envelope that is not JSON, instead of throwing', () => {
    const h = natsHeaders();
    h.set(H.envelope, '{"requestId":');
    expect(decodeRequestEnvelope(h)).toBeNull();
  });

  it('reads the header-per-field layout of an older publisher (messages queued across an upgrade)', () => {
    const h = natsHeaders();
    h.set(H.requestId, 'req-3');
    h.set(H.tenantId, 'tenant-3');
    h.set(H.provider, 'openai');
    h.set(H.model, 'gpt-4o-mini');
    h.set(H.stream, '1');
    h.set(H.targets, 'openai/gpt-4o-mini,anthropic/claude-haiku');
    h.set(H.guardrails, 'pii,blocklist');
    expect(decodeRequestEnvelope(h, 7)).toMatchObject({
      requestId: 'req-3',
      tenantId: 'tenant-3',
      stream: true,
      receivedAt: 7,
      targets: [
        { provider: 'openai', model: 'gpt-4o-mini' },
        { provider: 'anthropic', model: 'claude-haiku' },
      ],
      guardrails: ['pii', 'blocklist'],
    });
  });

  it('fills what an older publisher left out', () => {
    const h = natsHeaders();
    h.set(H.requestId, 'req-2');
    h.set(H.provider, 'ollama');
    h.set(H.model, 'llama3');
    const env = decodeRequestEnvelope(h, 42);
    expect(env).toMatchObject({
      kind: 'chat',
      keyId: null,
      publicModel: 'ollama/llama3',
      receivedAt: 42,
      deadline: 0,
      targets: [{ provider: 'ollama', model: 'llama3' }],
    });
  });
});
