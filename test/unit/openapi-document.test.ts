// The OpenAPI builder on its own: Fastify paths to OpenAPI templates, query parameters from zod
// objects (intersections included), and operation ids that stay unique across the whole registry.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import '../../services/ingress/server.ts'; // every route module declares its specs on import
import { buildOpenApiDocument, undocumentedRoutes } from '../../services/ingress/openapi/document.ts';
import { documentedRoutes, openApiPath, type DocumentedRoute } from '../../services/ingress/openapi/registry.ts';

describe('openApiPath', () => {
  it('turns :params and a trailing wildcard into path templates', () => {
    expect(openApiPath('/v1/files/:id/content')).toBe('/v1/files/{id}/content');
    expect(openApiPath('/admin/v1/tenants/:id/keys')).toBe('/admin/v1/tenants/{id}/keys');
    expect(openApiPath('/console/assets/*')).toBe('/console/assets/{path}');
    expect(openApiPath('/healthz')).toBe('/healthz');
  });
});

describe('buildOpenApiDocument', () => {
  const route: DocumentedRoute = {
    method: 'GET',
    path: '/things/:id/*',
    summary: 'A thing',
    tags: ['Things'],
    auth: 'tenant',
    query: z.intersection(
      z.object({ tenant_id: z.string() }),
      z.object({ limit: z.coerce.number().int().default(20), order: z.enum(['asc', 'desc']) }),
    ),
    responses: { 200: z.object({ id: z.string() }) },
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const doc = buildOpenApiDocument({ version: '0.0.0', routes: [route] }) as any;
  const op = doc.paths['/things/{id}/{path}'].get;

  it('declares path parameters, wildcard included, and every query field of an intersection', () => {
    const byName = Object.fromEntries(op.parameters.map((p: { name: string }) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['id', 'limit', 'order', 'path', 'tenant_id']);
    expect(byName.id).toMatchObject({ in: 'path', required: true });
    expect(byName.path).toMatchObject({ in: 'path', required: true });
    expect(byName.tenant_id).toMatchObject({ in: 'query', required: true });
    expect(byName.limit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', default: 20 } });
    expect(byName.order.schema.enum).toEqual(['asc', 'desc']);
  });

  it('adds the error envelope as the default response and the security scheme of the route', () => {
    expect(op.responses.default.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(op.responses['200'].content['application/json'].schema).toMatchObject({ type: 'object', required: ['id'] });
    expect(op.security).toEqual([{ tenantKey: [] }]);
    expect(JSON.stringify(doc)).not.toContain('"$schema"');
  });

  it('gives every operation of the whole registry a unique operationId', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const full = buildOpenApiDocument({ version: '0.0.0' }) as any;
    const ids = Object.values(full.paths).flatMap((ops) =>
      Object.values(ops as Record<string, { operationId: string }>).map((o) => o.operationId),
    );
    expect(ids.length).toBe(documentedRoutes().length);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('undocumentedRoutes', () => {
  it('names registered routes the document lacks, ignoring the HEAD twins of GETs', () => {
    const doc = { paths: { '/a/{id}': { get: {} } } };
    expect(undocumentedRoutes(['GET /a/:id', 'HEAD /a/:id', 'DELETE /a/:id', 'GET /b'], doc)).toEqual(['DELETE /a/:id', 'GET /b']);
  });
});
