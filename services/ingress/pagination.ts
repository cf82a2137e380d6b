// List pagination shared by every list route (files, batches, admin tenants and keys): OpenAI's
// `limit`/`after` cursors and list envelope. A cursor is an object id that must be in the caller's own
// list: an unknown id, or another tenant's, is a 400 instead of silently starting from the top (which
// would loop a client's auto-pagination) or paging someone else's list.
import type { Db } from '../../shared/db/database.ts';
import { ApiError } from '../../shared/protocol/errors.ts';

export function invalidCursor(after: string): ApiError {
  return new ApiError(400, `Invalid value for 'after': no object with id '${after}' in this list.`, {
    param: 'after',
    code: 'invalid_cursor',
  });
}

/** `limit` from the query string, clamped to [1, max]; absent or not a number gives `fallback`. */
export function listLimit(raw: string | undefined, { fallback, max }: { fallback: number; max: number }): number {
  return Math.min(max, Math.max(1, Number(raw ?? fallback) || fallback));
}

/**
 * The `seq` of the tenant's row `after` in a seq-ordered table, or the 400 when the tenant has no such
 * row. Deleted rows still count: a client paging while it deletes must not lose its place.
 */
export async function cursorSeq(db: Db, table: 'files' | 'batches', tenantId: string, after: string): Promise<string> {
  const row = await db.selectFrom(table).select('seq').where('id', '=', after).where('tenant_id', '=', tenantId).executeTakeFirst();
  if (!row) throw invalidCursor(after);
  return row.seq;
}

/** OpenAI's list envelope from `limit + 1` rows read newest first (the extra row only says `has_more`). */
export function listBody<R, T extends { id: string }>(rows: R[], limit: number, toObject: (row: R) => T) {
  const data = rows.slice(0, limit).map(toObject);
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rows.length > limit };
}
