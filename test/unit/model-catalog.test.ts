// ModelCatalog against a local HTTP upstream: a failing list logs once per outage and never fails a
// listing; the built-in names stand in until a list was fetched; the last good list survives an outage.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../shared/config/env.ts';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { ModelCatalog } from '../../services/ingress/model-catalog.ts';

let server: Server;
let status = 503;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((_req, res) => {
    if (status !== 200) return res.writeHead(status).end('{"error":{"message":"down"}}');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"gpt-live","created":7}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => void server.close());

const everyone = { tenantAllowedModels: null, keyAllowedModels: null } as KeyPrincipal;

function catalog() {
  const config = loadConfig({ OPENAI_BASE_URL: baseUrl, OPENAI_API_KEY: 'sk-x' });
  // Only the local upstream: no other provider may be called from a unit test.
  for (const [name, p] of Object.entries(config.providers)) p.configured = name === 'openai';
  const log = { warn: vi.fn(), info: vi.fn() };
  return { log, catalog: new ModelCatalog({ config, log: log as unknown as Logger, refreshMs: 0, fetchTimeoutMs: 2_000 }) };
}

describe('ModelCatalog', () => {
  it('lists the built-in names while the list is down, logs once, then switches to the live list', async () => {
    status = 503;
    const { log, catalog: c } = catalog();
    await c.refresh();
    await c.refresh();
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(log.warn.mock.calls[0]![0]).toMatchObject({ provider: 'openai', err: expect.stringContaining('503') });
    const ids = (await c.visibleTo(everyone)).map((m) => m.id);
    expect(ids).toContain('openai/gpt-4o-mini');
    expect(ids).not.toContain('openai/gpt-live');

    status = 200;
    await c.refresh();
    expect(log.info).toHaveBeenCalledTimes(1);
    expect(await c.visibleTo(everyone)).toEqual([{ id: 'openai/gpt-live', object: 'model', created: 7, owned_by: 'openai' }]);

    // Down again: the last good list stays, one new warning for the new outage.
    status = 500;
    await c.refresh();
    await c.refresh();
    expect(log.warn).toHaveBeenCalledTimes(2);
    expect((await c.visibleTo(everyone)).map((m) => m.id)).toEqual(['openai/gpt-live']);
  });

  it('filters by the allowed_models of the tenant and the key', async () => {
    status = 200;
    const { catalog: c } = catalog();
    await c.refresh();
    expect(
      await c.find({ tenantAllowedModels: ['anthropic/*'], keyAllowedModels: null } as KeyPrincipal, 'openai/gpt-live'),
    ).toBeUndefined();
    expect(await c.find({ tenantAllowedModels: null, keyAllowedModels: ['gpt-*'] } as KeyPrincipal, 'openai/gpt-live')).toMatchObject({
      id: 'openai/gpt-live',
    });
  });
});
