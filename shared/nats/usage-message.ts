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
  let columns = '';
  for (const key in record) {
    if (record[key as keyof UsageRecord] === undefined || NOT_STORED.has(key)) continue;
    columns = columns ? `${columns},${key}` : key;
  }
  return columns;
}

export interface UsageMessage<T> {
  tenant: string;
  columns: string;
  items: T[];
}

/** Items (records, or what carries them) split into messages: one per tenant (the subject names it) and field set (the header does). */
export function usageMessages<T>(items: T[], recordOf: (item: T) => UsageRecord): UsageMessage<T>[] {
  const byKey = new Map<string, UsageMessage<T>>();
  for (const item of items) {
    const record = recordOf(item);
    const columns = storedColumns(record);
    const key = `${record.tenant_id}\n${columns}`;
    const message = byKey.get(key);
    if (message) message.items.push(item);
    else byKey.set(key, { tenant: record.tenant_id, columns, items: [item] });
  }
  return [...byKey.values()];
}

export function usageHeaders(columns: string): MsgHdrs {
  const h = natsHeaders();
  h.set(USAGE_COLUMNS_HEADER, columns);
  return h;
}
