// Content guardrails attached to a tenant or a key (admin API). Names only: the definitions live in
// the config file, so a reload changes what a name does without touching the database.
import type { Db } from './database.ts';

export async function setTenantGuardrails(db: Db, tenantId: string, names: string[] | null) {
  const row = await db
    .updateTable('tenants')
    .set({ guardrails: names, updated_at: new Date() })
    .where('id', '=', tenantId)
    .returning(['id', 'guardrails'])
    .executeTakeFirst();
  return row ? { object: 'guardrail_attachment' as const, tenant_id: row.id, key_id: null, guardrails: row.guardrails } : null;
}

export async function setKeyGuardrails(db: Db, keyId: string, names: string[] | null) {
  const row = await db
    .updateTable('api_keys')
    .set({ guardrails: names })
    .where('id', '=', keyId)
    .returning(['id', 'tenant_id', 'guardrails'])
    .executeTakeFirst();
  return row ? { object: 'guardrail_attachment' as const, tenant_id: row.tenant_id, key_id: row.id, guardrails: row.guardrails } : null;
}

/**
 * The attachments of a tenant and (optionally) one of its keys, for callers without an authenticated
 * principal (the batch runner). A key revoked since it created the batch still names its guardrails.
 */
export async function attachmentsOf(db: Db, tenantId: string, keyId: string | null) {
  const tenant = await db.selectFrom('tenants').select('guardrails').where('id', '=', tenantId).executeTakeFirst();
  const key = keyId
    ? await db.selectFrom('api_keys').select('guardrails').where('id', '=', keyId).where('tenant_id', '=', tenantId).executeTakeFirst()
    : undefined;
  return { tenantGuardrails: tenant?.guardrails ?? null, keyGuardrails: key?.guardrails ?? null };
}
