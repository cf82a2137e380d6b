// GET /openapi.json on a whole ingress: a valid OpenAPI 3.1 document, generated from the route
// specs, that lists every route the ingress registered (collected by its onRoute hook), and the
// offline reference page at /docs under a strict CSP.
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { undocumentedRoutes } from '../../services/ingress/openapi/document.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_API_KEY: 'adm' } });
});
afterAll(async () => stack?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function openApi(): Promise<any> {
  const res = await fetch(`${stack.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return res.json();
}

describe('GET /openapi.json', () => {
  it('validates as OpenAPI 3.1', async () => {
    const doc = await openApi();
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // The validator does reject a broken document (an operation without responses).
    const broken = structuredClone(doc);
    broken.paths['/healthz'].get.responses = 'none';
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('lists every route the ingress registered, and the check catches one that is missing', async () => {
    const doc = await openApi();
    const registered = stack.ingress!.routes;
    // The route set of a whole ingress, admin API and console included.
    for (const r of [
      'POST /v1/chat/completions',
      'GET /admin/v1/tenants/:id/keys',
      'DELETE /admin/v1/keys/:id',
      'GET /v1/ws',
      'GET /console/assets/*',
    ])
      expect(registered).toContain(r);
    expect(undocumentedRoutes(registered, doc)).toEqual([]);
    expect(undocumentedRoutes([...registered, 'POST /v1/not-documented/:id'], doc)).toEqual(['POST /v1/not-documented/:id']);
    // Fastify's `:id` and wildcard map to OpenAPI path templates with declared parameters.
    expect(doc.paths['/admin/v1/tenants/{id}/keys'].post.parameters).toContainEqual(
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    );
    expect(doc.paths['/console/assets/{path}'].get.parameters).toContainEqual(expect.objectContaining({ name: 'path', in: 'path' }));
  });

  it('documents no route the ingress does not have', async () => {
    const doc = await openApi();
    const registered = new Set(stack.ingress!.routes.map((r) => r.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}')));
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.filter((r) => !registered.has(r))).toEqual([]);
  });

  it('generates request schemas from the zod schemas the routes validate with', async () => {
    const doc = await openApi();
    const createTenant = doc.paths['/admin/v1/tenants'].post;
    const body = createTenant.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['name']);
    expect(body.additionalProperties).toBe(false); // strictObject: a misspelt field is a 400
    expect(body.properties.budget.anyOf[0].properties.period.enum).toEqual(['day', 'month']);
    expect(createTenant.security).toEqual([{ adminKey: [] }]);
    const chat = doc.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema;
    expect(chat.required).toEqual(expect.arrayContaining(['model', 'messages']));
    const usageQuery = doc.paths['/v1/usage'].get.parameters.find((p: { name: string }) => p.name === 'group_by');
    expect(usageQuery.schema.enum).toEqual(['day', 'model', 'key']);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
  });
});

describe('GET /docs', () => {
  it('serves the reference page and its script from this origin under a strict CSP', async () => {
    const page = await fetch(`${stack.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await page.text();
    expect(html).toContain('src="/docs/docs.js"');
    expect(html).not.toMatch(/https?:\/\//); // offline: nothing from another host
    const script = await fetch(`${stack.url}/docs/docs.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain("fetch('/openapi.json')");
  });
});
