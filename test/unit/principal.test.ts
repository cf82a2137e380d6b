// principalOf (services/ingress/principal.ts): the authenticated caller, or the OpenAI 401 envelope
// when a route runs without the authenticate hook, never a TypeError on `undefined`.
import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import { principalOf } from '../../services/ingress/principal.ts';

const request = (principal?: KeyPrincipal) => ({ principal }) as unknown as FastifyRequest;

describe('principalOf', () => {
  it('returns the principal the authenticate hook set', () => {
    const principal = { keyId: 'key_1', tenantId: 'tenant_1' } as KeyPrincipal;
    expect(principalOf(request(principal))).toBe(principal);
  });

  it('throws the 401 missing_api_key envelope when no principal was set', () => {
    let thrown: unknown;
    try {
      principalOf(request());
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).status).toBe(401);
    expect((thrown as ApiError).toBody().error).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
  });

  it('is the only way ingress code reads the principal (no `req.principal!` left)', () => {
    const dir = new URL('../../services/ingress/', import.meta.url);
    const offenders = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && f !== 'principal.ts')
      .filter((f) => /\.principal!/.test(readFileSync(new URL(f, dir), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
