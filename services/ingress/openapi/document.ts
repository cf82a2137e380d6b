// Builds the OpenAPI 3.1 document from the route-spec registry (registry.ts). Schemas are generated
// from the same zod schemas the routes validate with (z.toJSONSchema, JSON Schema 2020-12, which is
// OpenAPI 3.1's dialect), so the document cannot drift from what the server accepts.
import { z } from 'zod';
import { documentedRoutes, openApiPath, WILDCARD_PARAM, type DocumentedRoute, type ResponseSpec, type RouteAuth } from './registry.ts';

type JsonSchema = Record<string, unknown>;

export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  })
  .meta({ description: 'The OpenAI error envelope, used for every error Switchyard returns.' });

const SECURITY: Record<Exclude<RouteAuth, 'none'>, { scheme: string; description: string }> = {
  tenant: { scheme: 'tenantKey', description: "A tenant's API key (`Authorization: Bearer sk-...`), created with the admin API." },
  admin: { scheme: 'adminKey', description: 'ADMIN_API_KEY (`Authorization: Bearer ...`).' },
  metrics: { scheme: 'metricsToken', description: 'METRICS_TOKEN, when it is set; without it /metrics is open.' },
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema; // the document's jsonSchemaDialect already says so
  return out;
}

function parameters(route: DocumentedRoute): JsonSchema[] {
  const params: JsonSchema[] = [];
  for (const m of route.path.matchAll(/:([A-Za-z0-9_]+)/g))
    params.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
  if (route.path.endsWith('*'))
    params.push({ name: WILDCARD_PARAM, in: 'path', required: true, description: 'The rest of the path.', schema: { type: 'string' } });
  if (route.query) {
    // An intersection of objects (z.intersection) is an allOf: each part adds its own properties.
    const top = jsonSchema(route.query, 'input');
    const parts = (top.allOf as JsonSchema[] | undefined) ?? [top];
    const required = new Set(parts.flatMap((p) => (p.required as string[] | undefined) ?? []));
    const properties = Object.assign({}, ...parts.map((p) => p.properties ?? {})) as Record<string, JsonSchema>;
    for (const [name, schema] of Object.entries(properties)) {
      const { description, ...rest } = schema;
      params.push({ name, in: 'query', required: required.has(name), ...(description ? { description } : {}), schema: rest });
    }
  }
  for (const [name, description] of Object.entries(route.headers ?? {}))
    params.push({ name, in: 'header', required: false, description, schema: { type: 'string' } });
  return params;
}

function response(spec: z.ZodType | ResponseSpec, status: number): JsonSchema {
  const r: ResponseSpec = spec instanceof z.ZodType ? { schema: spec } : spec;
  const out: JsonSchema = { description: r.description ?? (status < 300 ? 'OK' : 'Error') };
  if (r.schema) out.content = { [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema, 'output') } };
  else if (r.contentType) out.content = { [r.contentType]: {} };
  if (r.headers)
    out.headers = Object.fromEntries(Object.entries(r.headers).map(([h, description]) => [h, { description, schema: { type: 'string' } }]));
  return out;
}

function operation(route: DocumentedRoute): JsonSchema {
  const op: JsonSchema = {
    operationId: operationId(route),
    summary: route.summary,
    tags: route.tags,
    ...(route.description ? { description: route.description } : {}),
  };
  const params = parameters(route);
  if (params.length) op.parameters = params;
  if (route.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } };
  else if (route.bodyContentType) op.requestBody = { required: true, content: { [route.bodyContentType]: {} } };
  op.responses = {
    ...Object.fromEntries(Object.entries(route.responses).map(([status, r]) => [status, response(r, Number(status))])),
    default: {
      description: 'An error in the OpenAI envelope.',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
  };
  op.security = route.auth === 'none' ? [] : [{ [SECURITY[route.auth].scheme]: [] }];
  return op;
}

/** `GET /admin/v1/tenants/:id/keys` -> `getAdminV1TenantsIdKeys`: stable and unique per method+path. */
function operationId(route: DocumentedRoute): string {
  const words = route.path
    .replace(/\*$/, WILDCARD_PARAM)
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  return route.method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

export function buildOpenApiDocument(opts: { version: string; routes?: DocumentedRoute[] }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const routes = (opts.routes ?? documentedRoutes()).toSorted((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
  for (const route of routes) (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operation(route);
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Switchyard',
      version: opts.version,
      description:
        'LLM inference broker: the OpenAI API in front of several providers, with tenants, keys, limits, budgets and a usage ledger. ' +
        'Errors always use the OpenAI envelope `{"error":{"message","type","param","code"}}`. ' +
        'Without ADMIN_API_KEY every /admin/v1 path answers 404 `admin_api_disabled`.',
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorEnvelopeSchema, 'output') },
      securitySchemes: Object.fromEntries(
        Object.values(SECURITY).map((s) => [s.scheme, { type: 'http', scheme: 'bearer', description: s.description }]),
      ),
    },
  };
}

/**
 * Registered routes (`METHOD /fastify/path`) that the document does not list. HEAD is Fastify's own
 * twin of a GET, and OPTIONS/other verbs only come from catch-alls: both are left out.
 */
export function undocumentedRoutes(registered: readonly string[], doc: { paths: Record<string, Record<string, unknown>> }): string[] {
  return registered.filter((route) => {
    const [method, path] = route.split(' ') as [string, string];
    if (method === 'HEAD') return false;
    return !doc.paths[openApiPath(path)]?.[method.toLowerCase()];
  });
}
