// API keys are shown once and stored as SHA-256 hashes; lookups hash the presented key.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from './database.ts';
import type { CacheSetting } from './schema.ts';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateApiKey(): string {
  return `sy-${randomBytes(24).toString('base64url')}`;
}

/**
 * The part of a key stored in clear to tell keys apart: at most a third of it and at most 12
 * characters, so a short key (`sk-local`) is never stored whole.
 */
export function keyPrefix(key: string): string {
  return key.slice(0, Math.min(12, Math.floor(key.length / 3)));
}

export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

export interface KeyPrincipal {
  keyId: string;
  tenantId: string;
  tenantName: string;
  keyAllowedModels: string[] | null;
  tenantAllowedModels: string[] | null;
  keyLimits: Record<string, number> | null;
  tenantLimits: Record<string, number> | null;
  budget: { usd: number; period: 'day' | 'month' } | null;
  expiresAt: Date | null;
  /** Response cache settings (docs/caching.md); the key's, when set, wins over the tenant's. */
  keyCache?: CacheSetting | null;
  tenantCache?: CacheSetting | null;
  /** Content guardrail names attached to the tenant and to the key (shared/guardrails/registry.ts). */
  tenantGuardrails?: string[] | null;
  keyGuardrails?: string[] | null;
}

export async function findKeyByHash(db: Db, keyHash: string): Promise<KeyPrincipal | null> {
  const row = await db
    .selectFrom('api_keys as k')
    .innerJoin('tenants as t', 't.id', 'k.tenant_id')
    .select([
      'k.id as keyId',
      'k.tenant_id as tenantId',
      't.name as tenantName',
      'k.allowed_models as keyAllowedModels',
      't.allowed_models as tenantAllowedModels',
      'k.limits as keyLimits',
      't.limits as tenantLimits',
      't.budget as budget',
      'k.expires_at as expiresAt',
      'k.revoked_at as revokedAt',
      'k.cache as keyCache',
      't.cache as tenantCache',
      't.guardrails as tenantGuardrails',
      'k.guardrails as keyGuardrails',
    ])
    .where('k.key_hash', '=', keyHash)
    .executeTakeFirst();
  if (!row || row.revokedAt) return null;
  const { revokedAt: _revoked, ...principal } = row;
  return principal;
}

/**
 * Creates the default tenant and the given key if they are not there yet. Idempotent, so every
 * process may run it at start.
 */
export async function ensureBootstrapKey(db: Db, key: string): Promise<{ tenantId: string; keyId: string }> {
  const keyHash = hashApiKey(key);
  const tenantId = 'tenant_default';
  await db
    .insertInto('tenants')
    .values({ id: tenantId, name: 'default', allowed_models: null, limits: null, budget: null })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  await db
    .insertInto('api_keys')
    .values({
      // A random id: one derived from the hash would let anyone who sees ids test guesses of the key.
      id: newId('key'),
      tenant_id: tenantId,
      name: 'bootstrap',
      key_hash: keyHash,
      key_prefix: keyPrefix(key),
      allowed_models: null,
      limits: null,
    })
    .onConflict((oc) => oc.column('key_hash').doNothing())
    .execute();
  // The key may have been created by an earlier start (or another process): its id is the stored one.
  const { id: keyId } = await db.selectFrom('api_keys').select('id').where('key_hash', '=', keyHash).executeTakeFirstOrThrow();
  return { tenantId, keyId };
}
