// An LLM_USAGE message: a JSON array of one tenant's usage records that all carry the same fields,
// with those fields (the stored ones, in order) in the Sy-Usage-Columns header. The ledger can then
// insert a message's text as it is: no parse and rebuild of every record in the broker
// (docs/benchmarks.md, levers row "rawledger"). A message without the header (an older producer) is
// parsed record by record as before.
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { UsageRecord } from '../protocol/events.ts';

export const USAGE_COLUMNS_HEADER = 'Sy-Usage-Columns';

/** Record fields that are not columns (a tracing context that only travels with the record). */
export const NOT_STORED: ReadonlySet<string> = new Set(['traceparent']);

/** The record's stored fields in order, comma-separated: those JSON.stringify writes, minus NOT_STORED. */
export function storedColumns(record: UsageRecord): string {
  return storedKeys(record).join(',');
}

function storedKeys(record: UsageRecord): string[] {
  const keys: string[] = [];
  for (const key in record) if (record[key as keyof UsageRecord] !== undefined && !NOT_STORED.has(key)) keys.push(key);
  return keys;
}

/** Whether the record's stored fields are `keys`, in that order (no allocation: the usual record is like the last). */
function hasStoredKeys(record: UsageRecord, keys: string[]): boolean {
  let i = 0;
  for (const key in record) {
    if (record[key as keyof UsageRecord] === undefined || NOT_STORED.has(key)) continue;
    if (keys[i++] !== key) return false;
  }
  return i === keys.length;
}

/** Items (records, or what carries them) grouped by the records' stored fields, in first-seen order. */
export function byFieldSet<T>(items: T[], recordOf: (item: T) => UsageRecord): Array<{ keys: string[]; columns: string; items: T[] }> {
  const sets: Array<{ keys: string[]; columns: string; items: T[] }> = [];
  for (const item of items) {
    const record = recordOf(item);
    const set = sets.find((s) => hasStoredKeys(record, s.keys));
    if (set) set.items.push(item);
    else {
      const keys = storedKeys(record);
      sets.push({ keys, columns: keys.join(','), items: [item] });
    }
  }
  return sets;
}

export interface UsageMessage<T> {
  tenant: string;
  columns: string;
  items: T[];
}

/** Items split into messages: one per tenant (the subject names it) and field set (the header does). */
export function usageMessages<T>(items: T[], recordOf: (item: T) => UsageRecord): UsageMessage<T>[] {
  const messages: UsageMessage<T>[] = [];
  for (const { columns, items: sameFields } of byFieldSet(items, recordOf)) {
    const byTenant = new Map<string, T[]>();
    for (const item of sameFields) {
      const tenant = recordOf(item).tenant_id;
      const list = byTenant.get(tenant);
      if (list) list.push(item);
      else byTenant.set(tenant, [item]);
    }
    for (const [tenant, list] of byTenant) messages.push({ tenant, columns, items: list });
  }
  return messages;
}

export function usageHeaders(columns: string): MsgHdrs {
  const h = natsHeaders();
  h.set(USAGE_COLUMNS_HEADER, columns);
  return h;
}
