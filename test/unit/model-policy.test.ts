// Model allow-lists: wildcard patterns, bare patterns matching after `<provider>/`, tenant ∩ key.
import { describe, expect, it } from 'vitest';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import { assertModelAllowed, modelMatches } from '../../services/ingress/model-policy.ts';

function principal(tenant: string[] | null, key: string[] | null): KeyPrincipal {
  return {
    keyId: 'key_1',
    tenantId: 'tenant_1',
    tenantName: 't',
    keyAllowedModels: key,
    tenantAllowedModels: tenant,
    keyLimits: null,
    tenantLimits: null,
    budget: null,
    expiresAt: null,
  };
}

function denial(p: KeyPrincipal, model: string): ApiError | null {
  try {
    assertModelAllowed(p, model);
    return null;
  } catch (err) {
    return err as ApiError;
  }
}

describe('modelMatches', () => {
  it.each([
    [['gpt-*'], 'openai/gpt-4o-mini', true],
    [['gpt-*'], 'gpt-4o', true],
    [['gpt-*'], 'anthropic/claude-3', false],
    [['gpt-*'], 'openai/o3-mini', false],
    [['openai/*'], 'openai/gpt-4o', true],
    [['openai/*'], 'gpt-4o', false], // a bare name may be an alias routed elsewhere
    [['openai/*'], 'openaix/gpt-4o', false],
    [['anthropic/claude-*'], 'anthropic/claude-sonnet-4-5', true],
    [['anthropic/claude-*'], 'anthropic/other', false],
    [['*'], 'anything/at/all', true],
    [['groq/*'], 'groq/meta-llama/llama-4-scout', true], // `*` crosses slashes
    [['gpt-4o'], 'openai/gpt-4o', true],
    [['gpt-4o'], 'openai/gpt-4o-mini', false], // exact unless a wildcard says otherwise
    [['gpt-4.1'], 'openai/gpt-4x1', false], // dots are literal
    [['*-mini'], 'openai/gpt-4o-mini', true],
    [['text-embedding-*', 'anthropic/*'], 'anthropic/claude-haiku-4-5', true],
    [[], 'openai/gpt-4o', false],
  ])('%j vs %s -> %s', (patterns, model, expected) => {
    expect(modelMatches(patterns, model)).toBe(expected);
  });
});

describe('assertModelAllowed', () => {
  it('null lists do not restrict', () => {
    expect(denial(principal(null, null), 'xai/grok-3-mini')).toBeNull();
  });

  it('both lists apply: the model must pass the tenant and the key', () => {
    const p = principal(['openai/*'], ['gpt-4o*', 'anthropic/*']);
    expect(denial(p, 'openai/gpt-4o-mini')).toBeNull();
    expect(denial(p, 'anthropic/claude-sonnet-4-5')!.message).toContain('tenant');
    expect(denial(p, 'openai/o3')!.message).toContain('API key');
  });

  it('throws the OpenAI-shaped 403', () => {
    const err = denial(principal(null, ['gpt-*']), 'anthropic/claude-sonnet-4-5')!;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(403);
    expect(err.toBody()).toEqual({
      error: {
        message: "The model 'anthropic/claude-sonnet-4-5' is not allowed for this API key.",
        type: 'permission_error',
        param: 'model',
        code: 'model_not_allowed',
      },
    });
  });

  it('an empty list allows nothing', () => {
    expect(denial(principal([], null), 'openai/gpt-4o')!.status).toBe(403);
  });
});
