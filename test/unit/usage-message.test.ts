// The LLM_USAGE message format (shared/nats/usage-message.ts): a message's header names exactly the
// fields JSON.stringify writes for each of its records, minus those that are not stored, so the
// ledger can insert the message's text without parsing it.
import { describe, expect, it } from 'vitest';
import { storedColumns, usageMessages } from '../../shared/nats/usage-message.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import { usageRecord } from '../harness/usage-record.ts';

const rec = (id: string, tenant: string, over: Partial<UsageRecord> = {}) => usageRecord({ request_id: id, tenant_id: tenant, ...over });

describe('usage messages', () => {
  it('names the fields JSON.stringify writes, in order, without undefined ones or the traceparent', () => {
    const r = { ...rec('a', 't'), cache_hit: undefined, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    expect(storedColumns(r).split(',')).toEqual(Object.keys(JSON.parse(JSON.stringify(r))).filter((k) => k !== 'traceparent'));
    expect(storedColumns(r)).not.toMatch(/cache_hit|traceparent/);
    expect(storedColumns({ ...r, cache_hit: true })).toMatch(/,cache_hit$/);
  });

  it('splits records by tenant and field set, keeping their order inside a message', () => {
    const items = [rec('1', 'a'), rec('2', 'b'), rec('3', 'a', { cache_hit: true }), rec('4', 'a'), rec('5', 'b')];
    const messages = usageMessages(items, (r) => r);
    expect(messages.map((m) => [m.tenant, m.items.map((r) => r.request_id), m.columns.endsWith('cache_hit')])).toEqual([
      ['a', ['1', '4'], false],
      ['b', ['2', '5'], false],
      ['a', ['3'], true],
    ]);
    for (const m of messages) for (const r of m.items) expect(storedColumns(r)).toBe(m.columns);
  });
});
