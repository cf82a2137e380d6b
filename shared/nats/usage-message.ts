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

export interface UsageMessage<T> {
  tenant: string;
  columns: string;
  items: T[];
}

/** Items (records, or what carries them) split into messages: one per tenant (the subject names it) and field set (the header does). */
export function usageMessages<T>(items: T[], recordOf: (item: T) => UsageRecord): UsageMessage<T>[] {
  const messages: UsageMessage<T>[] = [];
  const fieldSets: Array<{ keys: string[]; columns: string }> = [];
  for (const item of items) {
    const record = recordOf(item);
    let set = fieldSets.find((s) => hasStoredKeys(record, s.keys));
    if (!set) {
      const keys = storedKeys(record);
      fieldSets.push((set = { keys, columns: keys.join(',') }));
    }
    const message = messages.find((m) => m.columns === set.columns && m.tenant === record.tenant_id);
    if (message) message.items.push(item);
    else messages.push({ tenant: record.tenant_id, columns: set.columns, items: [item] });
  }
  return messages;
}

export function usageHeaders(columns: string): MsgHdrs {
  const h = natsHeaders();
  h.set(USAGE_COLUMNS_HEADER, columns);
  return h;
}
