import { describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/transport-node';
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
    for (const absent of [H.stream, H.priority, H.batchId, H.deadline, H.targets, H.wire, H.anthropicBeta])
      expect(h.has(absent)).toBe(false);
    expect(decodeRequestEnvelope(h)).toEqual(plain);
  });

  it("carries an Anthropic Messages body's wire format and anthropic-beta header", () => {
    const messages: RequestEnvelope = { ...full, kind: 'chat', wire: 'anthropic', anthropicBeta: 'interleaved-thinking-2025-05-14' };
    const h = encodeRequestHeaders(messages);
    expect(h.get(H.wire)).toBe('anthropic');
    expect(decodeRequestEnvelope(h)).toEqual(messages);
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
