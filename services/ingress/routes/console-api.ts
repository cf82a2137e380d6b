// Read API of the web console (/console, docs/console.md). One key opens it: ADMIN_API_KEY sees
// every tenant (and writes through /admin/v1), a tenant's API key sees its own tenant only; the tenant
// of a tenant key comes from the key, and asking for another tenant is a 404 like an unknown one.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { batchObject } from '../../batch/store.ts';
import type { Db } from '../../../shared/db/database.ts';
import { recentActivity, recentBatches } from '../../../shared/db/console.ts';
import { getTenant, listKeys, usageReport } from '../../../shared/db/tenants.ts';
import { ApiError, errors } from '../../../shared/protocol/errors.ts';
import { validate } from '../../../shared/protocol/request-errors.ts';
import { usageQuerySchema } from '../admin.ts';
import { adminKeyMatcher, bearerToken } from '../admin-key.ts';
import type { KeyAuthenticator } from '../auth.ts';
import { documentRoute } from '../openapi/registry.ts';
import { apiKeySchema, batchSchema, tenantSchema, usageReportSchema } from '../openapi/schemas.ts';

export interface ConsoleApiOptions {
  db: Db;
  auth: KeyAuthenticator;
  adminApiKey: string | undefined;
}

type Viewer = { role: 'admin' } | { role: 'tenant'; tenantId: string };

const tenantQuery = z.object({ tenant_id: z.string().min(1).optional() });
const activityQuery = tenantQuery.extend({ minutes: z.coerce.number().int().min(1).max(1_440).default(15) });
/** The console lists this many of a tenant's keys and batches (newest first). */
const LIST_LIMIT = 100;
const BATCH_LIMIT = 20;

export const consoleApiRoutes: FastifyPluginAsync<ConsoleApiOptions> = async (app, opts) => {
  const { db, auth } = opts;
  const isAdminKey = opts.adminApiKey ? adminKeyMatcher(opts.adminApiKey) : () => false;

  async function viewerOf(req: FastifyRequest): Promise<Viewer> {
    const token = bearerToken(req.headers.authorization);
    if (token && isAdminKey(token)) return { role: 'admin' };
    return { role: 'tenant', tenantId: (await auth.authenticate(req.headers.authorization)).tenantId };
  }

  /** The tenant a request is about: the admin names it, a tenant key is its own tenant. */
  async function tenantOf(viewer: Viewer, requested: string | undefined): Promise<string> {
    if (viewer.role === 'tenant') {
      if (requested !== undefined && requested !== viewer.tenantId) throw errors.notFound(`Tenant '${requested}'`);
      return viewer.tenantId;
    }
    if (requested === undefined)
      throw new ApiError(400, "Missing required parameter: 'tenant_id'.", { param: 'tenant_id', code: 'missing_required_parameter' });
    if (!(await getTenant(db, requested))) throw errors.notFound(`Tenant '${requested}'`);
    return requested;
  }

  // Authenticate before anything else, so a request without a valid key is a 401 whatever its query.
  // (This plugin is encapsulated: the hook runs for the console API's routes only.)
  const viewers = new WeakMap<FastifyRequest, Viewer>();
  app.addHook('onRequest', async (req) => void viewers.set(req, await viewerOf(req)));
  const viewer = (req: FastifyRequest) => viewers.get(req)!;

  app.get('/console/api/session', async (req) => {
    const who = viewer(req);
    if (who.role === 'admin') return { role: 'admin', tenant: null };
    return { role: 'tenant', tenant: await getTenant(db, who.tenantId) };
  });

  app.get('/console/api/keys', async (req) => {
    const q = validate(tenantQuery, req.query ?? {});
    const tenantId = await tenantOf(viewer(req), q.tenant_id);
    return (await listKeys(db, tenantId, { limit: LIST_LIMIT, order: 'desc' }))!;
  });

  app.get('/console/api/usage', async (req) => {
    const { tenant_id, ...rest } = (req.query ?? {}) as Record<string, unknown>;
    const tenantId = await tenantOf(viewer(req), validate(tenantQuery, { tenant_id }).tenant_id);
    const q = validate(usageQuerySchema, rest);
    const data = await usageReport(db, tenantId, q);
    return { object: 'list', data, from: q.from.toISOString(), to: q.to.toISOString(), group_by: q.groupBy };
  });

  // Requests and errors per minute: one tenant, or every tenant for the admin without tenant_id.
  app.get('/console/api/activity', async (req) => {
    const q = validate(activityQuery, req.query ?? {});
    const who = viewer(req);
    const tenantId = who.role === 'admin' && q.tenant_id === undefined ? null : await tenantOf(who, q.tenant_id);
    return { object: 'list', minutes: q.minutes, data: await recentActivity(db, tenantId, q.minutes) };
  });

  app.get('/console/api/batches', async (req) => {
    const q = validate(tenantQuery, req.query ?? {});
    const tenantId = await tenantOf(viewer(req), q.tenant_id);
    return { object: 'list', data: (await recentBatches(db, tenantId, BATCH_LIMIT)).map(batchObject) };
  });
};

// ---- OpenAPI (services/ingress/openapi) ----
const consoleDoc = {
  tags: ['Console'],
  auth: 'tenant',
  description: 'ADMIN_API_KEY names any tenant with tenant_id; a tenant API key sees its own tenant only.',
} as const;
documentRoute('GET /console/api/session', {
  ...consoleDoc,
  summary: 'Who the key is: the admin, or a tenant',
  responses: { 200: z.object({ role: z.enum(['admin', 'tenant']), tenant: tenantSchema.nullable() }) },
});
documentRoute('GET /console/api/keys', {
  ...consoleDoc,
  summary: "A tenant's API keys (newest 100)",
  query: tenantQuery,
  responses: { 200: z.object({ object: z.literal('list'), data: z.array(apiKeySchema), has_more: z.boolean() }).loose() },
});
documentRoute('GET /console/api/usage', {
  ...consoleDoc,
  summary: "A tenant's usage by day, model or key",
  query: z.intersection(tenantQuery, usageQuerySchema),
  responses: { 200: usageReportSchema },
});
documentRoute('GET /console/api/activity', {
  ...consoleDoc,
  summary: 'Requests and errors per minute, recent minutes',
  query: activityQuery,
  responses: {
    200: z.object({
      object: z.literal('list'),
      minutes: z.number().int(),
      data: z.array(z.object({ minute: z.iso.datetime(), requests: z.number().int(), errors: z.number().int() })),
    }),
  },
});
documentRoute('GET /console/api/batches', {
  ...consoleDoc,
  summary: "A tenant's newest batches with their progress",
  query: tenantQuery,
  responses: { 200: z.object({ object: z.literal('list'), data: z.array(batchSchema) }) },
});
