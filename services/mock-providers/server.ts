// Simulated upstream providers for development, tests and benchmarks. One HTTP server; each wire
// family lives under its own path prefix, which is what `<PROVIDER>_BASE_URL` points at:
//   openai  -> http://host:port/v1            (also /openai/v1)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_SCRIPT, FailCounter, scriptFromHeaders, scriptFromText, type MockScript } from './script.ts';
import { handleOpenAIChat, handleOpenAIEmbeddings, lastUserText, sendOpenAIError } from './openai.ts';

export interface MockStats {
  requests: number;
  active: number;
  completed: number;
  /** Requests whose client went away before the answer was complete (cancellation reached us). */
  aborted: number;
  byRoute: Record<string, number>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface MockContext {
  nextId(): number;
  sleep(ms: number, res: ServerResponse): Promise<void>;
  count(route: string): void;
}

export interface MockProviderOptions {
  port?: number;
  host?: string;
  defaults?: Partial<MockScript>;
  /** Keep the last N request bodies for inspection at GET /_mock/requests. */
  recordLast?: number;
}

export interface MockProviders {
  server: Server;
  url: string;
  stats: MockStats;
  requests: RecordedRequest[];
  reset(): void;
  close(): Promise<void>;
}

export function defaultsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<MockScript> {
  const out: Partial<MockScript> = {};
  if (env.MOCK_TOKENS) out.tokens = Number(env.MOCK_TOKENS);
  if (env.MOCK_TTFT_MS) out.ttft_ms = Number(env.MOCK_TTFT_MS);
  if (env.MOCK_ITL_MS) out.itl_ms = Number(env.MOCK_ITL_MS);
  return out;
}

export async function startMockProviders(opts: MockProviderOptions = {}): Promise<MockProviders> {
  const defaults: MockScript = { ...DEFAULT_SCRIPT, ...opts.defaults };
  const stats: MockStats = { requests: 0, active: 0, completed: 0, aborted: 0, byRoute: {} };
  const requests: RecordedRequest[] = [];
  const recordLast = opts.recordLast ?? 50;
  const failCounter = new FailCounter();
  let ids = 0;

  const ctx: MockContext = {
    nextId: () => ++ids,
    count: (route) => {
      stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
    },
    sleep: (ms, res) =>
      new Promise((resolve) => {
        const t = setTimeout(resolve, ms);
        res.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      }),
  };

  const server = createServer(async (req, res) => {
    stats.requests++;
    stats.active++;
    res.once('close', () => {
      stats.active--;
      if (res.writableFinished) stats.completed++;
      else stats.aborted++;
    });
    try {
      await route(req, res);
    } catch (err) {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { message: `mock failure: ${(err as Error).message}`, type: 'server_error', param: null, code: null } }),
        );
      } else res.destroy();
    }
  });
  server.keepAliveTimeout = 65_000;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://mock');
    const path = url.pathname.replace(/^\/openai(?=\/v1\/)/, '');
    if (req.method === 'GET' && path === '/_mock/stats') return json(res, 200, stats);
    if (req.method === 'GET' && path === '/_mock/requests') return json(res, 200, requests);
    if (req.method === 'GET' && path === '/v1/models') {
      return json(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'mock' }] });
    }
    if (req.method !== 'POST')
      return json(res, 404, {
        error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error', param: null, code: null },
      });

    const raw = await readBody(req);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return json(res, 400, {
        error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null },
      });
    }
    requests.push({ method: req.method, path, headers: req.headers, body });
    if (requests.length > recordLast) requests.shift();

    if (path === '/v1/chat/completions') {
      ctx.count('openai.chat');
      const messages = body.messages as Parameters<typeof lastUserText>[0];
      const script: MockScript = { ...defaults, ...scriptFromHeaders(req.headers), ...scriptFromText(lastUserText(messages)) };
      if (failCounter.shouldFail(script)) return sendOpenAIError(res, script);
      return handleOpenAIChat(ctx, req, res, body, script);
    }
    if (path === '/v1/embeddings') return handleOpenAIEmbeddings(ctx, res, body);
    return json(res, 404, {
      error: { message: `Unknown request URL: POST ${path}.`, type: 'invalid_request_error', param: null, code: 'unknown_url' },
    });
  }

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    stats,
    requests,
    reset() {
      Object.assign(stats, { requests: 0, completed: 0, aborted: 0, byRoute: {} });
      requests.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
