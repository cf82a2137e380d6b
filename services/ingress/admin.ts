// The tenant control plane over HTTP: /admin/v1 (tenants, keys, usage; guarded by ADMIN_API_KEY)
// and the tenant-facing GET /v1/usage. Data access lives in shared/db/tenants.ts; this file only
// authenticates, validates (OpenAI-style 400s naming the field) and broadcasts changes so every
// ingress drops cached principals at once instead of at cache expiry.
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Db } from '../../shared/db/database.ts';
import {
  createKey,
  createTenant,
  getTenant,
  listKeys,
  listTenants,
  revokeKey,
  updateTenant,
  usageReport,
  type UsageGroupBy,
} from '../../shared/db/tenants.ts';
import { setKeyGuardrails, setTenantGuardrails } from '../../shared/db/guardrail-attachments.ts';
import type { GuardrailRegistry } from '../../shared/guardrails/registry.ts';
import { subjects } from '../../shared/nats/topology.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import { validate } from '../../shared/protocol/request-errors.ts';
import { adminKeyMatcher, bearerToken } from './admin-key.ts';
import { documentRoute } from './openapi/registry.ts';
import { apiKeySchema, listOf, tenantSchema, usageReportSchema } from './openapi/schemas.ts';
import type { KeyAuthenticator } from './auth.ts';
import { invalidCursor } from './pagination.ts';

export interface AdminRoutesOptions {
  db: Db;
  nc: NatsConnection;
  /** This process's authenticator: invalidated directly, so the local ingress never waits for NATS. */
  auth: KeyAuthenticator;
  adminApiKey: string | undefined;
  /** Content guardrail definitions: attached names must exist. */
  guardrails?: GuardrailRegistry;
}

const DAY_MS = 86_400_000;
const DEFAULT_USAGE_DAYS = 30;

// ---- schemas ----

const modelPattern = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._:@/+*-]+$/, 'must be a model name or pattern (letters, digits, . _ : @ / + - and * as wildcard)');
// null: no restriction at this level; []: nothing allowed.
const allowedModels = z.array(modelPattern).max(1_000).nullable();
const positiveInt = z.number().int().positive();
// Strict objects: a misspelt field (say `allowedModels`) must be a 400, not a silently unrestricted key.
const limits = z
  .strictObject({ rpm: positiveInt.optional(), tpm: positiveInt.optional(), max_concurrency: positiveInt.optional() })
  .nullable();
const budget = z.strictObject({ usd: z.number().positive().finite(), period: z.enum(['day', 'month']) }).nullable();

// Response cache (docs/caching.md): answers kept ttl_seconds; 0 turns it off at this level; null: unset.
const cache = z
  .strictObject({
    ttl_seconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400),
  })
  .nullable();

const tenantCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  allowed_models: allowedModels.optional(),
  limits: limits.optional(),
  budget: budget.optional(),
  cache: cache.optional(),
});
const tenantPatchSchema = tenantCreateSchema.partial();

/** ISO 8601 date-time with zone, or Unix seconds (as OpenAI's APIs take them). */
const timestamp = z.union([
  z.iso.datetime({ offset: true }).transform((s) => new Date(s)),
  z
    .number()
    .int()
    .positive()
    .transform((s) => new Date(s * 1000)),
]);

const keyCreateSchema = z.strictObject({
  name: z.string().trim().max(200).nullable().optional(),
  expires_at: timestamp
    .refine((d) => d.getTime() > Date.now(), 'must be in the future')
    .nullable()
    .optional(),
  allowed_models: allowedModels.optional(),
  limits: limits.optional(),
  cache: cache.optional(),
});

// null: detach all; names must be defined in the config file's `guardrails:` (checked in the route).
const guardrailAttachmentSchema = z.strictObject({
  guardrails: z.array(z.string().min(1).max(63)).max(64).nullable(),
});

const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
});

// A bare date is a whole UTC day: `from` starts at its midnight, `to` includes it (ends at the next).
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const queryDate = z
  .string()
  .refine((s) => (DATE_ONLY.test(s) ? z.iso.date().safeParse(s).success : z.iso.datetime({ offset: true }).safeParse(s).success), {
    message: 'must be an ISO 8601 date (YYYY-MM-DD) or date-time with a zone (e.g. 2025-01-31T12:00:00Z)',
  });
export const usageQuerySchema = z
  .strictObject({
    from: queryDate.optional(),
    to: queryDate.optional(),
    group_by: z.enum(['day', 'model', 'key']).default('day'),
  })
  .transform((q, ctx) => {
    const to = q.to ? new Date(DATE_ONLY.test(q.to) ? Date.parse(q.to) + DAY_MS : Date.parse(q.to)) : new Date();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_USAGE_DAYS * DAY_MS);
    if (from >= to) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: "must be later than 'from'" });
      return z.NEVER;
    }
    return { from, to, groupBy: q.group_by as UsageGroupBy };
  });

// ---- validation ----

/** Parses with zod; the first issue becomes a 400 naming the field, as the chat endpoints do. */
const parse = validate;

function body(req: FastifyRequest, { optional = false } = {}): unknown {
  const b = req.body;
  if (b === undefined && optional) return {};
  if (b === undefined || b === null || typeof b !== 'object' || Array.isArray(b)) {
    throw new ApiError(400, 'The request body must be a JSON object.', { code: 'invalid_json' });
  }
  return b;
}

// ---- routes ----

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (app, opts) => {
  const { db, nc, auth } = opts;

  // Tenant API: the caller's own tenant only; the tenant id comes from the key, never the request.
  app.get('/v1/usage', async (req) => {
    const principal = await auth.authenticate(req.headers.authorization);
    const q = parse(usageQuerySchema, req.query ?? {});
    return usageBody(principal.tenantId, q);
  });

  async function usageBody(tenantId: string, q: { from: Date; to: Date; groupBy: UsageGroupBy }) {
    const data = await usageReport(db, tenantId, q);
    return { object: 'list', data, from: q.from.toISOString(), to: q.to.toISOString(), group_by: q.groupBy };
  }

  if (!opts.adminApiKey) {
    const disabled = async () => {
      throw new ApiError(404, 'The admin API is disabled on this server: set ADMIN_API_KEY to enable it.', {
        code: 'admin_api_disabled',
      });
    };
    app.all('/admin/v1', disabled);
    app.all('/admin/v1/*', disabled);
    return;
  }

  const isAdminKey = adminKeyMatcher(opts.adminApiKey);
  const requireAdmin = async (req: FastifyRequest) => {
    const token = bearerToken(req.headers.authorization);
    if (!token) throw errors.missingKey();
    if (!isAdminKey(token)) throw new ApiError(401, 'Incorrect admin API key provided.', { code: 'invalid_admin_key' });
  };

  /**
   * Drops cached principals here at once, then tells every other ingress. The flush waits until the
   * server has taken the message (and relayed it to subscribers); the database change is already
   * committed, so if NATS is unreachable the other ingresses still converge at their cache TTL.
   */
  async function broadcast(req: FastifyRequest, subject: string, payload: Record<string, string>) {
    auth.invalidate();
    try {
      nc.publish(subject, JSON.stringify(payload));
      await withTimeout(nc.flush(), 2_000);
    } catch (err) {
      req.log.warn({ err, subject }, 'control-plane broadcast failed; other ingresses will refresh at cache expiry');
    }
  }

  await app.register(
    async (admin: FastifyInstance) => {
      admin.addHook('onRequest', requireAdmin);

      admin.post('/tenants', async (req, reply) => {
        const input = parse(tenantCreateSchema, body(req));
        return reply.code(201).send(await createTenant(db, input));
      });

      admin.get('/tenants', async (req) => {
        const q = parse(listQuerySchema, req.query ?? {});
        const page = await listTenants(db, q);
        if (!page) throw invalidCursor(q.after!);
        return page;
      });

      admin.get<{ Params: { id: string } }>('/tenants/:id', async (req) => {
        const tenant = await getTenant(db, req.params.id);
        if (!tenant) throw errors.notFound(`Tenant '${req.params.id}'`);
        return tenant;
      });

      admin.patch<{ Params: { id: string } }>('/tenants/:id', async (req) => {
        const patch = parse(tenantPatchSchema, body(req));
        const tenant = await updateTenant(db, req.params.id, patch);
        if (!tenant) throw errors.notFound(`Tenant '${req.params.id}'`);
        await broadcast(req, subjects.tenantChanged, { tenant_id: tenant.id });
        return tenant;
      });

      admin.post<{ Params: { id: string } }>('/tenants/:id/keys', async (req, reply) => {
        const input = parse(keyCreateSchema, body(req, { optional: true }));
        const key = await createKey(db, req.params.id, input);
        if (!key) throw errors.notFound(`Tenant '${req.params.id}'`);
        return reply.code(201).send(key);
      });

      admin.get<{ Params: { id: string } }>('/tenants/:id/keys', async (req) => {
        const q = parse(listQuerySchema, req.query ?? {});
        const page = await listKeys(db, req.params.id, q);
        if (page) return page;
        if (!(await getTenant(db, req.params.id))) throw errors.notFound(`Tenant '${req.params.id}'`);
        throw invalidCursor(q.after!);
      });

      admin.delete<{ Params: { id: string } }>('/keys/:id', async (req) => {
        const key = await revokeKey(db, req.params.id);
        if (!key) throw errors.notFound(`API key '${req.params.id}'`);
        await broadcast(req, subjects.keyRevoked, { key_id: key.id, tenant_id: key.tenant_id });
        return { ...key, deleted: true };
      });

      // ---- content guardrails: definitions (config file) and attachments per tenant and per key ----
      admin.get('/guardrails', async () => ({
        object: 'list',
        default_guardrails: opts.guardrails?.defaultNames ?? [],
        data: (opts.guardrails?.list() ?? []).map((g) => ({
          object: 'guardrail',
          name: g.name,
          kind: g.def.kind,
          mode: g.def.mode,
          on_fail: g.def.on_fail,
        })),
      }));

      const attachedNames = (req: FastifyRequest): string[] | null => {
        const { guardrails: names } = parse(guardrailAttachmentSchema, body(req));
        names?.forEach((n, i) => {
          if (!opts.guardrails?.has(n)) throw errors.unknownGuardrail(`guardrails[${i}]`, n);
        });
        return names && names.length > 0 ? [...new Set(names)] : null;
      };

      admin.put<{ Params: { id: string } }>('/tenants/:id/guardrails', async (req) => {
        const attached = await setTenantGuardrails(db, req.params.id, attachedNames(req));
        if (!attached) throw errors.notFound(`Tenant '${req.params.id}'`);
        await broadcast(req, subjects.tenantChanged, { tenant_id: attached.tenant_id });
        return attached;
      });

      admin.put<{ Params: { id: string } }>('/keys/:id/guardrails', async (req) => {
        const attached = await setKeyGuardrails(db, req.params.id, attachedNames(req));
        if (!attached) throw errors.notFound(`API key '${req.params.id}'`);
        await broadcast(req, subjects.tenantChanged, { tenant_id: attached.tenant_id });
        return attached;
      });

      admin.get<{ Params: { id: string } }>('/tenants/:id/usage', async (req) => {
        const q = parse(usageQuerySchema, req.query ?? {});
        if (!(await getTenant(db, req.params.id))) throw errors.notFound(`Tenant '${req.params.id}'`);
        return usageBody(req.params.id, q);
      });
    },
    { prefix: '/admin/v1' },
  );
};

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- OpenAPI (services/ingress/openapi) ----
const adminDoc = { tags: ['Admin'], auth: 'admin' } as const;
documentRoute('GET /v1/usage', {
  summary: "The caller's tenant usage by day, model or key",
  tags: ['Usage'],
  auth: 'tenant',
  query: usageQuerySchema,
  responses: { 200: usageReportSchema },
});
documentRoute('POST /admin/v1/tenants', {
  ...adminDoc,
  summary: 'Create a tenant',
  body: tenantCreateSchema,
  responses: { 201: tenantSchema },
});
documentRoute('GET /admin/v1/tenants', {
  ...adminDoc,
  summary: 'List tenants',
  query: listQuerySchema,
  responses: { 200: listOf(tenantSchema) },
});
documentRoute('GET /admin/v1/tenants/:id', { ...adminDoc, summary: 'Retrieve a tenant', responses: { 200: tenantSchema } });
documentRoute('PATCH /admin/v1/tenants/:id', {
  ...adminDoc,
  summary: "Change a tenant's name, allowed models, limits or budget",
  body: tenantPatchSchema,
  responses: { 200: tenantSchema },
});
documentRoute('POST /admin/v1/tenants/:id/keys', {
  ...adminDoc,
  summary: 'Create an API key (the secret is in this answer only)',
  body: keyCreateSchema,
  responses: { 201: apiKeySchema.extend({ key: z.string() }) },
});
documentRoute('GET /admin/v1/tenants/:id/keys', {
  ...adminDoc,
  summary: "List a tenant's API keys",
  query: listQuerySchema,
  responses: { 200: listOf(apiKeySchema) },
});
documentRoute('DELETE /admin/v1/keys/:id', {
  ...adminDoc,
  summary: 'Revoke an API key',
  responses: { 200: apiKeySchema.extend({ deleted: z.literal(true) }) },
});
const guardrailAttachmentDoc = z.object({
  object: z.literal('guardrail_attachment'),
  tenant_id: z.string(),
  key_id: z.string().nullable(),
  guardrails: z.array(z.string()).nullable(),
});
documentRoute('GET /admin/v1/guardrails', {
  ...adminDoc,
  summary: 'The guardrails the config file defines, and those applied to every request',
  responses: {
    200: z.object({
      object: z.literal('list'),
      default_guardrails: z.array(z.string()),
      data: z.array(
        z.object({ object: z.literal('guardrail'), name: z.string(), kind: z.string(), mode: z.string(), on_fail: z.string() }),
      ),
    }),
  },
});
documentRoute('PUT /admin/v1/tenants/:id/guardrails', {
  ...adminDoc,
  summary: "Attach guardrails (by name) to a tenant's requests; null or [] detaches them all",
  body: guardrailAttachmentSchema,
  responses: { 200: guardrailAttachmentDoc },
});
documentRoute('PUT /admin/v1/keys/:id/guardrails', {
  ...adminDoc,
  summary: "Attach guardrails (by name) to one API key's requests; null or [] detaches them all",
  body: guardrailAttachmentSchema,
  responses: { 200: guardrailAttachmentDoc },
});
documentRoute('GET /admin/v1/tenants/:id/usage', {
  ...adminDoc,
  summary: "A tenant's usage by day, model or key",
  query: usageQuerySchema,
  responses: { 200: usageReportSchema },
});
