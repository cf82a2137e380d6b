// List cursors on every list route (services/ingress/pagination.ts): an `after` id must be in the
// caller's own list; an unknown id or another tenant's is a 400 `invalid_cursor`, never a silent restart
// from the top or a page of someone else's list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { createKey, createTenant } from '../../shared/db/tenants.ts';

const ADMIN = 'adm-pagination';
let stack: Stack;
let otherKey: string;

interface ListOrError {
  data: Array<{ id: string }>;
  has_more: boolean;
  last_id: string | null;
  error?: unknown;
}

beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_API_KEY: ADMIN } });
  const tenant = await createTenant(stack.db, { name: 'other' });
  otherKey = (await createKey(stack.db, tenant.id, {}))!.key;
});
afterAll(async () => stack?.close());

const line = JSON.stringify({
  custom_id: 'a',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
});

async function get(path: string, key: string): Promise<{ status: number; body: ListOrError }> {
  const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as ListOrError };
}

async function uploadFile(key: string): Promise<string> {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([line + '\n']), 'input.jsonl');
  const res = await fetch(`${stack.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

async function createBatch(key: string, fileId: string): Promise<string> {
  const res = await fetch(`${stack.url}/v1/batches`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

function expectInvalidCursor(r: { status: number; body: ListOrError }) {
  expect(r.status).toBe(400);
  expect(r.body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: 'after', code: 'invalid_cursor' } });
}

describe('list cursors', () => {
  it("files: pages with a cursor of the tenant; an unknown cursor or another tenant's file is a 400", async () => {
    const ids = [await uploadFile(stack.apiKey), await uploadFile(stack.apiKey), await uploadFile(stack.apiKey)];
    const page1 = await get('/v1/files?limit=2', stack.apiKey);
    expect(page1.body.data.map((f) => f.id)).toEqual([ids[2], ids[1]]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await get(`/v1/files?limit=2&after=${page1.body.last_id}`, stack.apiKey);
    expect(page2.body.data.map((f) => f.id)).toEqual([ids[0]]);

    expectInvalidCursor(await get('/v1/files?after=file-doesnotexist', stack.apiKey));
    // Tenant A's file id must not page tenant B's list (nor tell B that A's id exists).
    await uploadFile(otherKey);
    expectInvalidCursor(await get(`/v1/files?after=${ids[2]}`, otherKey));
  });

  it("batches: an unknown cursor or another tenant's batch is a 400", async () => {
    const batchId = await createBatch(stack.apiKey, await uploadFile(stack.apiKey));
    expect((await get(`/v1/batches?after=${batchId}`, stack.apiKey)).status).toBe(200);
    expectInvalidCursor(await get('/v1/batches?after=batch_doesnotexist', stack.apiKey));
    expectInvalidCursor(await get(`/v1/batches?after=${batchId}`, otherKey));
  });

  it('admin tenants and keys: an unknown cursor is a 400 invalid_cursor', async () => {
    expectInvalidCursor(await get('/admin/v1/tenants?after=tenant_nope', ADMIN));
    const tenants = await get('/admin/v1/tenants', ADMIN);
    const tenantId = tenants.body.data[0]!.id;
    expectInvalidCursor(await get(`/admin/v1/tenants/${tenantId}/keys?after=key_nope`, ADMIN));
  });
});
