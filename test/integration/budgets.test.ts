// Budgets: the worst-case cost is reserved through a CAS-protected KV counter before a request is
// sent, so a burst of concurrent requests cannot push a tenant past its budget; the ledger's usage
// rows are what the tenant is charged.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, startStack, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';

const ADMIN = 'adm-budgets';
let stack: Stack;
let ingresses: string[] = [];

beforeAll(async () => {
  // $50 per million output tokens, input free: 1,000 output tokens cost exactly $0.05.
  const dir = mkdtempSync(join(tmpdir(), 'sy-budget-'));
  const configPath = join(dir, 'switchyard.yaml');
  writeFileSync(configPath, 'prices:\n  openai/budget-model: { input: 0, output: 50 }\n');
  stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, SWITCHYARD_CONFIG: configPath } });
  const port = await freePort();
  // PGlite belongs to this process: there the second ingress runs here, on its own NATS connection.
  if (currentBackend() === 'pglite') await stack.startIngress({ port });
  else await stack.spawn('ingress', { PORT: String(port) });
  ingresses = [stack.url, `http://127.0.0.1:${port}`];
}, 60_000);
afterAll(async () => stack?.close());

async function admin(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, unknown>;
}

async function tenantWithBudget(name: string, usd: number): Promise<{ tenantId: string; key: string }> {
  const t = await admin('/admin/v1/tenants', { name, budget: { usd, period: 'day' } });
  const k = await admin(`/admin/v1/tenants/${t.id}/keys`, {});
  return { tenantId: t.id as string, key: k.key as string };
}

async function chat(base: string, key: string, tokens: number, ttftMs = 0) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'openai/budget-model',
      max_tokens: 1000,
      messages: [{ role: 'user', content: `spend\nmock:{"tokens":${tokens},"ttft_ms":${ttftMs}}` }],
    }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { error?: { code: string; type: string } } };
}

async function charged(tenantId: string, rows: number): Promise<{ usd: number; rows: number }> {
  return waitFor(
    async () => {
      const r = await stack.db
        .selectFrom('usage')
        .select([sql<string>`coalesce(sum(cost_usd), 0)`.as('usd'), sql<string>`count(*)`.as('n')])
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow();
      return Number(r.n) >= rows ? { usd: Number(r.usd), rows: Number(r.n) } : undefined;
    },
    { timeoutMs: 15_000, what: `${rows} usage rows` },
  );
}

describe('budgets', () => {
  it('50 concurrent $0.05 requests against a $1.00 budget are charged at most $1.00', async () => {
    const { tenantId, key } = await tenantWithBudget('burst', 1);
    // All 50 in flight at once (the answers take 500 ms), across two ingress processes.
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => chat(ingresses[i % 2]!, key, 1000, 500)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(50);
    expect(ok.length).toBe(20);
    for (const r of refused) {
      expect(r.body.error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const { usd } = await charged(tenantId, ok.length);
    expect(usd).toBeLessThanOrEqual(1.0);
    expect(usd).toBeCloseTo(1.0, 6);
    // Spent: nothing more gets through.
    expect((await chat(ingresses[1]!, key, 10)).status).toBe(429);
  });

  it('reservations are replaced by the real cost, so cheap answers leave budget for more', async () => {
    const { tenantId, key } = await tenantWithBudget('reconcile', 0.1);
    // Each request reserves $0.05 (max_tokens 1000) but costs $0.005 (100 tokens): one after the
    // other, 11 fit (10 x 0.005 spent + 0.05 reserved = 0.1); without reconciliation only 2 would.
    const statuses: number[] = [];
    for (let i = 0; i < 13; i++) statuses.push((await chat(stack.url, key, 100)).status);
    expect(statuses.slice(0, 11)).toEqual(Array(11).fill(200));
    expect(statuses.slice(11)).toEqual([429, 429]);
    const { usd } = await charged(tenantId, 11);
    expect(usd).toBeCloseTo(0.055, 6);
  });

  it('a tenant over budget is refused even for a request of unknown price', async () => {
    const { key } = await tenantWithBudget('tiny', 0.01);
    expect((await chat(stack.url, key, 1000)).status).toBe(429); // $0.05 worst case > $0.01
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/unpriced-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200); // nothing spent yet and no price to reserve
  });
});
