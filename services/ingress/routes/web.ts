// The browsable side of the ingress: GET /openapi.json (generated from the route-spec registry),
// the API reference at /docs and the web console at /console (docs/console.md). All of it is static
// files read once at start, from services/ingress/web and node_modules (uPlot): nothing is fetched
// from the network, and every page is served under a strict Content-Security-Policy.
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { errors } from '../../../shared/protocol/errors.ts';
import { buildOpenApiDocument } from '../openapi/document.ts';
import { documentRoute } from '../openapi/registry.ts';
import { PACKAGE_ROOT } from '../../../shared/runtime/package-root.ts';

/** Scripts, styles and data from this origin only; no inline script, no framing, no plugins. */
export const WEB_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const web = (file: string) => new URL(`../web/${file}`, import.meta.url);
const nodeModule = (file: string) => new URL(`node_modules/${file}`, PACKAGE_ROOT);

/** Console assets by name; the wildcard route serves these and nothing else. */
const CONSOLE_ASSETS: Record<string, URL> = {
  'app.js': web('console/app.js'),
  'api.js': web('console/api.js'),
  'dom.js': web('console/dom.js'),
  'app.css': web('console/app.css'),
  'uPlot.esm.js': nodeModule('uplot/dist/uPlot.esm.js'),
  'uPlot.min.css': nodeModule('uplot/dist/uPlot.min.css'),
};

interface Asset {
  type: string;
  body: Buffer;
}

function load(url: URL): Asset {
  const ext = url.pathname.slice(url.pathname.lastIndexOf('.'));
  return { type: TYPES[ext] ?? 'application/octet-stream', body: readFileSync(url) };
}

function send(reply: FastifyReply, asset: Asset) {
  return reply
    .header('content-security-policy', WEB_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache')
    .type(asset.type)
    .send(asset.body);
}

export const webRoutes: FastifyPluginAsync = async (app) => {
  const version = (JSON.parse(readFileSync(new URL('package.json', PACKAGE_ROOT), 'utf8')) as { version: string }).version;
  // Built on first request: by then every route module has declared its spec.
  let openApi: string | undefined;
  app.get('/openapi.json', async (_req, reply) => {
    openApi ??= JSON.stringify(buildOpenApiDocument({ version }));
    return reply.type('application/json').send(openApi);
  });

  const docsPage = load(web('docs/index.html'));
  const docsJs = load(web('docs/docs.js'));
  const docsCss = load(web('docs/docs.css'));
  app.get('/docs', async (_req, reply) => send(reply, docsPage));
  app.get('/docs/docs.js', async (_req, reply) => send(reply, docsJs));
  app.get('/docs/docs.css', async (_req, reply) => send(reply, docsCss));

  const consolePage = load(web('console/index.html'));
  const consoleAssets = new Map(Object.entries(CONSOLE_ASSETS).map(([name, url]) => [name, load(url)]));
  app.get('/console', async (_req, reply) => send(reply, consolePage));
  app.get<{ Params: { '*': string } }>('/console/assets/*', async (req, reply) => {
    const asset = consoleAssets.get(req.params['*']);
    if (!asset) throw errors.notFound(`Console asset '${req.params['*']}'`);
    return send(reply, asset);
  });
};

// ---- OpenAPI ----
const html = { description: 'An HTML page.', contentType: 'text/html' };
documentRoute('GET /openapi.json', {
  summary: 'This OpenAPI 3.1 document',
  tags: ['Documentation'],
  auth: 'none',
  responses: { 200: { description: 'The OpenAPI document.', schema: z.looseObject({ openapi: z.literal('3.1.0') }) } },
});
documentRoute('GET /docs', {
  summary: 'API reference page (renders /openapi.json)',
  tags: ['Documentation'],
  auth: 'none',
  responses: { 200: html },
});
documentRoute('GET /docs/docs.js', {
  summary: 'Script of the API reference page',
  tags: ['Documentation'],
  auth: 'none',
  responses: { 200: { contentType: 'text/javascript' } },
});
documentRoute('GET /docs/docs.css', {
  summary: 'Style sheet of the API reference page',
  tags: ['Documentation'],
  auth: 'none',
  responses: { 200: { contentType: 'text/css' } },
});
documentRoute('GET /console', {
  summary: 'Web console (the key is entered in the page; data comes from /console/api and /admin/v1)',
  tags: ['Console'],
  auth: 'none',
  responses: { 200: html },
});
documentRoute('GET /console/assets/*', {
  summary: "The console's scripts and style sheets (app.js, api.js, dom.js, app.css, uPlot)",
  tags: ['Console'],
  auth: 'none',
  responses: { 200: { description: 'A script or style sheet.', contentType: 'text/javascript' }, 404: { description: 'No such asset.' } },
});
