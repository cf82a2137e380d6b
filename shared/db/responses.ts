// Stored Responses API responses: what GET /v1/responses/{id} answers and what `previous_response_id`
// replays. Every read and delete is scoped to the tenant; an expired row is invisible before the
// purge removes it, so retention holds to the second whatever the purge interval.
import type { Kysely } from 'kysely';
import type { ChatMessage } from '../protocol/openai.ts';
import type { Database } from './schema.ts';

export interface StoredResponse {
  body: Record<string, unknown>;
  conversation: ChatMessage[];
}

export async function saveResponse(
  db: Kysely<Database>,
  row: { id: string; tenantId: string; body: object; conversation: ChatMessage[]; retentionSeconds: number },
): Promise<void> {
  const now = Date.now();
  await db
    .insertInto('responses')
    .values({
      id: row.id,
      tenant_id: row.tenantId,
      body: JSON.stringify(row.body),
      conversation: JSON.stringify(row.conversation),
      created_at: new Date(now),
      expires_at: new Date(now + row.retentionSeconds * 1000),
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

export async function findResponse(db: Kysely<Database>, tenantId: string, id: string): Promise<StoredResponse | undefined> {
  const row = await db
    .selectFrom('responses')
    .select(['body', 'conversation'])
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
  if (!row) return undefined;
  return { body: JSON.parse(row.body) as Record<string, unknown>, conversation: JSON.parse(row.conversation) as ChatMessage[] };
}

/** True when the tenant had this response (and it had not expired). */
export async function deleteResponse(db: Kysely<Database>, tenantId: string, id: string): Promise<boolean> {
  const res = await db
    .deleteFrom('responses')
    .where('id', '=', id)
    .where('tenant_id', '=', tenantId)
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
  return res.numDeletedRows > 0n;
}

/** Deletes every response past its retention; any ingress may run it (the delete is idempotent). */
export async function purgeExpiredResponses(db: Kysely<Database>, now = new Date()): Promise<number> {
  const res = await db.deleteFrom('responses').where('expires_at', '<=', now).executeTakeFirst();
  return Number(res.numDeletedRows);
}
