// The route-spec registry behind GET /openapi.json. Each route module declares, next to its routes,
// what a route takes and answers as zod schemas; services/ingress/openapi/document.ts turns the
// registry into the OpenAPI 3.1 document. A route without a spec fails test/integration/openapi.test.ts.
//
//   documentRoute('GET /v1/files/:id', { summary: 'Retrieve a file', tags: ['Files'], auth: 'tenant', responses: { 200: fileSchema } });
//
// Paths are written as Fastify registers them (`:id`, a trailing `*`), so a spec is copied from the route.
import type { z } from 'zod';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Who may call: no key, a tenant's API key, ADMIN_API_KEY, or METRICS_TOKEN (when set). */
export type RouteAuth = 'none' | 'tenant' | 'admin' | 'metrics';

export interface ResponseSpec {
  description?: string;
  /** Absent: a response without a body (or one described by `description` alone). */
  schema?: z.ZodType;
  /** Defaults to application/json. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface RouteSpec {
  summary: string;
  description?: string;
  tags: readonly string[];
  auth: RouteAuth;
  /** A JSON request body; `bodyContentType` for anything else (multipart, say). */
  body?: z.ZodType;
  bodyContentType?: string;
  /** A zod object: each property becomes one query parameter. */
  query?: z.ZodType;
  /** Request headers the route reads, name -> description. */
  headers?: Record<string, string>;
  /** Keyed by status code. The OpenAI error envelope is added as the default response. */
  responses: Record<number, z.ZodType | ResponseSpec>;
}

export interface DocumentedRoute extends RouteSpec {
  method: HttpMethod;
  /** Fastify form, e.g. /v1/files/:id */
  path: string;
}

const routes = new Map<string, DocumentedRoute>();

/** Declares one route: `METHOD /fastify/path/:param`. Declaring the same route twice replaces it. */
export function documentRoute(route: `${HttpMethod} /${string}`, spec: RouteSpec): void {
  const space = route.indexOf(' ');
  const method = route.slice(0, space) as HttpMethod;
  const path = route.slice(space + 1);
  routes.set(`${method} ${path}`, { ...spec, method, path });
}

export function documentedRoutes(): DocumentedRoute[] {
  return [...routes.values()];
}

/** Fastify's `/v1/files/:id` and `/console/assets/*` as OpenAPI's `/v1/files/{id}` and `/console/assets/{path}`. */
export function openApiPath(fastifyPath: string): string {
  return fastifyPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, `{${WILDCARD_PARAM}}`);
}

/** The name a trailing Fastify wildcard gets as an OpenAPI path parameter. */
export const WILDCARD_PARAM = 'path';
