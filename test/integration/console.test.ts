// The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core) against
// a whole Switchyard on real NATS and a real database: real traffic first, then the console must show
// it; the admin creates and revokes a key; a tenant key sees its own tenant only; a tenant name that
// is HTML renders as text. Without chromium the file skips with a message, except under CI=true where
// that is a failure. CONSOLE_SCREENSHOTS=1 (npm run console:screenshots) writes docs/console/*.png.
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';

const ADMIN = 'console-admin-key';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS ? new URL('../../docs/console/', import.meta.url) : null;
// Rendered as text it is harmless; parsed as HTML it would set window.__xss.
const HOSTILE_NAME = `<img src=x onerror="window.__xss=1">Acme & Co`;

if (!haveChromium && !inCi) {
  console.warn(`console.test.ts skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH).`);
}

describe.runIf(!haveChromium && inCi)('console without Chromium under CI', () => {
  it('fails: CI must install chromium (.ci/run)', () => {
    expect.fail(`No Chromium at ${CHROMIUM}; .ci/run installs Debian's chromium package.`);
  });
});

describe.runIf(haveChromium)('web console in headless Chromium', () => {
  let stack: Stack;
  let browser: Browser;
  const tenantA = { id: '', key: '', keyId: '', keyPrefix: '' };
  const tenantB = { id: '', key: '', keyId: '', keyPrefix: '' };
  let batchId = '';

  async function call(method: string, path: string, key: string, body?: unknown) {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${stack.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: res.status, body: (text ? JSON.parse(text) : null) as any, headers: res.headers };
  }

  async function newTenant(name: string, into: typeof tenantA) {
    const t = await call('POST', '/admin/v1/tenants', ADMIN, { name });
    expect(t.status).toBe(201);
    const k = await call('POST', `/admin/v1/tenants/${t.body.id}/keys`, ADMIN, { name: 'first key' });
    expect(k.status).toBe(201);
    Object.assign(into, { id: t.body.id, key: k.body.key, keyId: k.body.id, keyPrefix: k.body.prefix });
  }

  async function chat(key: string, tokens: number) {
    const res = await call('POST', '/v1/chat/completions', key, {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: `hi\nmock:{"tokens":${tokens}}` }],
    });
    expect(res.status).toBe(200);
    return res.headers.get('x-request-id')!;
  }

  async function runBatch(key: string, lines: number) {
    const jsonl = Array.from({ length: lines }, (_, i) =>
      JSON.stringify({
        custom_id: `l${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      }),
    ).join('\n');
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob([`${jsonl}\n`]), 'input.jsonl');
    const upload = await fetch(`${stack.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    const file = (await upload.json()) as { id: string };
    const batch = await call('POST', '/v1/batches', key, {
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(batch.status).toBe(200);
    await waitFor(async () => (await call('GET', `/v1/batches/${batch.body.id}`, key)).body.status === 'completed', {
      timeoutMs: 30_000,
      what: 'batch',
    });
    return batch.body.id as string;
  }

  /** What the ledger holds for a tenant: the numbers the console must show. */
  async function ledgerTotals(tenantId: string) {
    const rows = await stack.db.selectFrom('usage').select(['input_tokens', 'output_tokens']).where('tenant_id', '=', tenantId).execute();
    return {
      requests: rows.length,
      input: rows.reduce((s, r) => s + r.input_tokens, 0),
      output: rows.reduce((s, r) => s + r.output_tokens, 0),
    };
  }

  async function openConsole(key: string): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 1400 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
    await page.goto(`${stack.url}/console`);
    await page.fill('#key', key);
    await page.click('#login button[type=submit]');
    await page.locator('[data-testid=whoami]').filter({ hasText: /\S/ }).waitFor();
    return { page, problems };
  }

  const cells = (page: Page, table: string) =>
    page.locator(`[data-testid=${table}] tbody tr`).evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));

  beforeAll(async () => {
    stack = await startStack({ batch: true, env: { ADMIN_API_KEY: ADMIN, AUTH_CACHE_TTL_MS: '600000' } });
    await newTenant(HOSTILE_NAME, tenantA);
    await newTenant('Other tenant', tenantB);
    // Real traffic: three chat requests and a two-line batch for A, one request for B.
    const ids = [await chat(tenantA.key, 5), await chat(tenantA.key, 7), await chat(tenantA.key, 9), await chat(tenantB.key, 4)];
    await Promise.all(ids.map((id) => waitForUsageRow(stack.db, id)));
    batchId = await runBatch(tenantA.key, 2);
    await waitFor(async () => (await ledgerTotals(tenantA.id)).requests === 5, { timeoutMs: 15_000, what: 'batch usage rows' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('serves the console under a strict CSP, with everything from this origin', async () => {
    const res = await fetch(`${stack.url}/console`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    expect(await res.text()).not.toMatch(/https?:\/\//);
    expect((await fetch(`${stack.url}/console/assets/uPlot.esm.js`)).status).toBe(200);
    expect((await fetch(`${stack.url}/console/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it('admin: shows a tenant named with HTML as text, its usage after traffic, and its batch progress', async () => {
    const { page, problems } = await openConsole(ADMIN);
    expect(await page.textContent('[data-testid=whoami]')).toBe('admin: all tenants');
    await page.click(`button[data-tenant-id="${tenantA.id}"]`);
    const name = page.locator('[data-testid=tenant-name]');
    await expect.poll(() => name.textContent()).toBe(HOSTILE_NAME);
    expect(await name.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();

    const ledger = await ledgerTotals(tenantA.id);
    await expect.poll(() => page.textContent('[data-testid=usage-total-requests]')).toBe('5');
    const byModel = await cells(page, 'usage-by-model');
    expect(byModel).toEqual([['openai/gpt-4o-mini', '5', String(ledger.input), String(ledger.output), expect.stringMatching(/^\$/)]]);
    const byKey = await cells(page, 'usage-by-key');
    expect(byKey.map((r) => [r[0], r[1]])).toEqual([[`first key (${tenantA.keyPrefix})`, '5']]);
    expect(await page.locator('[data-testid=usage-chart] canvas').count()).toBeGreaterThan(0);
    await expect.poll(() => page.textContent('[data-testid=activity-requests]')).toBe('5');
    await expect.poll(() => page.textContent('[data-testid=activity-errors]')).toBe('0');

    const batches = await cells(page, 'batches-table');
    expect(batches).toEqual([[batchId, 'completed', '', '2 / 2', '0', expect.any(String)]]);
    expect(await page.locator('[data-testid=batches-table] progress').getAttribute('value')).toBe('2');

    if (SCREENSHOTS) await page.screenshot({ path: new URL('admin.png', SCREENSHOTS).pathname, fullPage: true });
    expect(problems).toEqual([]);
  });

  it('admin: creates a key that works, then revokes it and the API refuses it', async () => {
    const { page, problems } = await openConsole(ADMIN);
    await page.click(`button[data-tenant-id="${tenantA.id}"]`);
    await page.fill('[data-testid=create-key] input[name=name]', 'made in console');
    await page.fill('[data-testid=create-key] input[name=rpm]', '120');
    await page.click('[data-testid=create-key] button[type=submit]');
    const secret = (await page.locator('[data-testid=new-key-secret]').textContent())!;
    expect(secret).toMatch(/^sy-/);
    const row = page.locator('[data-testid=keys-table] tbody tr', { hasText: 'made in console' });
    expect(await row.locator('[data-testid=key-status]').textContent()).toBe('active');
    expect(await row.locator('td').nth(3).textContent()).toBe('120');
    expect((await call('GET', '/v1/models', secret)).status).toBe(200);

    await row.locator('[data-testid=revoke]').click();
    await expect.poll(() => row.locator('[data-testid=key-status]').textContent()).toBe('revoked');
    const refused = await call('GET', '/v1/models', secret);
    expect(refused.status).toBe(401);
    // The key lives in this tab's sessionStorage, never in a URL.
    expect(page.url()).toBe(`${stack.url}/console`);
    expect(await page.evaluate(() => sessionStorage.getItem('switchyard.console.key'))).toBe(ADMIN);
    expect(problems).toEqual([]);
  });

  it("admin: sets a tenant's limits and budget, which the admin API then reports", async () => {
    const { page, problems } = await openConsole(ADMIN);
    await page.click(`button[data-tenant-id="${tenantB.id}"]`);
    const form = page.locator('[data-testid=tenant-limits]');
    await form.locator('input[name=rpm]').fill('60');
    await form.locator('input[name=budget]').fill('5');
    await form.locator('select[name=period]').selectOption('month');
    await form.locator('button[type=submit]').click();
    await expect.poll(async () => (await cells(page, 'tenant-settings'))[0]).toEqual(['any', '60', '-', '-', '$5.000000 per month']);
    const tenant = await call('GET', `/admin/v1/tenants/${tenantB.id}`, ADMIN);
    expect(tenant.body).toMatchObject({ limits: { rpm: 60 }, budget: { usd: 5, period: 'month' } });
    expect(problems).toEqual([]);
  });

  it("tenant key: sees its own tenant's keys and usage only, and cannot change them", async () => {
    const { page, problems } = await openConsole(tenantA.key);
    expect(await page.textContent('[data-testid=whoami]')).toBe(`tenant: ${HOSTILE_NAME}`);
    expect(await page.locator('[data-testid=create-tenant]').count()).toBe(0);
    await expect.poll(() => page.textContent('[data-testid=usage-total-requests]')).toBe('5');
    const keys = page.locator('[data-testid=keys-table] tbody tr');
    await keys.first().waitFor();
    const keyIds = await keys.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key-id')));
    expect(keyIds).toContain(tenantA.keyId);
    expect(keyIds).not.toContain(tenantB.keyId);
    expect(await page.locator('[data-testid=revoke]').count()).toBe(0);
    expect(await page.locator('[data-testid=create-key]').count()).toBe(0);
    expect(await page.locator('[data-testid=tenant-limits]').count()).toBe(0);
    expect(problems).toEqual([]);
    // Asking the console API for the other tenant with this key is a 404, from inside the page too.
    const status = await page.evaluate(async (other) => {
      const key = sessionStorage.getItem('switchyard.console.key');
      return (await fetch(`/console/api/usage?tenant_id=${other}`, { headers: { authorization: `Bearer ${key}` } })).status;
    }, tenantB.id);
    expect(status).toBe(404);
    if (SCREENSHOTS) await page.screenshot({ path: new URL('tenant.png', SCREENSHOTS).pathname, fullPage: true });
  });

  it('renders the API reference at /docs from /openapi.json, offline and within the CSP', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
    await page.goto(`${stack.url}/docs`);
    const doc = (await (await fetch(`${stack.url}/openapi.json`)).json()) as { paths: Record<string, object> };
    const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    await expect.poll(() => page.locator('main details').count()).toBe(operations);
    expect(await page.locator('details', { hasText: '/admin/v1/tenants/{id}/keys' }).count()).toBe(2);
    expect(problems).toEqual([]);
  });

  it('refuses a wrong key on the login form', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/console`);
    await page.fill('#key', 'sk-not-a-key');
    await page.click('#login button[type=submit]');
    await expect.poll(() => page.textContent('[data-testid=login-error]')).toMatch(/Incorrect API key|invalid/i);
    expect(await page.evaluate(() => sessionStorage.getItem('switchyard.console.key'))).toBeNull();
  });
});
