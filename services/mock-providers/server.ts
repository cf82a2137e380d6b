// Simulated upstream providers for development, tests and benchmarks. One HTTP server; each wire
// family lives under its own path prefix, which is what `<PROVIDER>_BASE_URL` points at:
//   openai    -> http://host:port/v1            (also /openai/v1)
//   anthropic -> http://host:port/anthropic     (POST /anthropic/v1/messages)
//   gemini    -> http://host:port/gemini/v1beta (POST .../models/{m}:generateContent | :streamGenerateContent | :batchEmbedContents)
//   groq      -> http://host:port/groq/openai/v1
//   xai       -> http://host:port/xai/v1
//   ollama    -> http://host:port/ollama        (POST /ollama/api/chat, /ollama/api/embed)
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getDescriptor } from '../../shared/providers/registry.ts';
import { createServer } from '../../shared/runtime/node-http.ts';
import { DEFAULT_SCRIPT, FailCounter, scriptFromHeaders, scriptFromText, type MockScript } from './script.ts';
import { handleOpenAIChat, handleOpenAIEmbeddings, lastUserText, sendOpenAIError, type OpenAIDialect } from './openai.ts';
import {
  anthropicScriptText,
  handleAnthropicMessages,
  handleAnthropicCountTokens,
  sendAnthropicError,
  validateAnthropic,
  type AnthropicBody,
} from './anthropic.ts';
import { geminiScriptText, handleGeminiEmbed, handleGeminiGenerate, sendGeminiError, validateGemini, type GeminiBody } from './gemini.ts';
import { handleOllamaChat, handleOllamaEmbed, ollamaScriptText, sendOllamaError, validateOllama, type OllamaBody } from './ollama.ts';
import { SIMULATOR_MODULES } from './modules.ts';
import { modelListProviderAt, serveModelList } from './model-lists.ts';

/** Each wire family's prefix, as the provider's descriptor names it (shared/providers/<name>/descriptor.ts). */
const SIM = Object.fromEntries(
  (['openai', 'anthropic', 'gemini', 'groq', 'xai', 'ollama'] as const).map((p) => [p, getDescriptor(p)!.simulatorPath]),
) as Record<'openai' | 'anthropic' | 'gemini' | 'groq' | 'xai' | 'ollama', string>;

const OPENAI_DIALECT_PATHS: Record<string, OpenAIDialect> = {
  [`${SIM.openai}/chat/completions`]: 'openai',
  [`${SIM.groq}/chat/completions`]: 'groq',
  [`${SIM.xai}/chat/completions`]: 'xai',
};

const GEMINI_PATH = new RegExp(
  `^${SIM.gemini.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/models/([^:/]+):(generateContent|streamGenerateContent|batchEmbedContents|embedContent)$`,
);

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
  /** Providers whose model list answers 503 (tests of a list that is down). */
  failingModelLists: Set<string>;
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
  const failingModelLists = new Set<string>();
  let ids = 0;

  const ctx: MockContext = {
    nextId: () => ++ids,
    count: (route) => {
      stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
    },
    sleep: (ms, res) =>
      new Promise((resolve) => {
        // One listener per sleep, removed again, or long streams pile up 'close' listeners.
        const onClose = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          res.off('close', onClose);
          resolve();
        }, ms);
        res.once('close', onClose);
      }),
  };

  const server = createServer((req, res) => void serve(req, res));
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Model lists are fetched in the background by every ingress: counted per route only, so the
    // request/active/completed counters keep meaning "inference calls" for the tests that read them.
    const listOf =
      req.method === 'GET'
        ? modelListProviderAt(new URL(req.url ?? '/', 'http://mock').pathname.replace(/^\/openai(?=\/v1\/)/, ''))
        : undefined;
    if (listOf) {
      ctx.count(`${listOf}.models`);
      return serveModelList(listOf, req, res, failingModelLists.has(listOf));
    }
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
  }
  server.keepAliveTimeout = 65_000;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://mock');
    const path = url.pathname.replace(/^\/openai(?=\/v1\/)/, '');
    if (req.method === 'GET' && path === '/_mock/stats') return json(res, 200, stats);
    if (req.method === 'GET' && path === '/_mock/requests') return json(res, 200, requests);
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

    const scriptFor = (text: string | undefined): MockScript => ({
      ...defaults,
      ...scriptFromHeaders(req.headers),
      ...scriptFromText(text),
    });
    // A scripted error with `after_tokens` on a stream fails mid-way inside the handler instead; the
    // handler sees `error` only when this request is one that should fail.
    let failMidstream = false;
    const failsNow = (script: MockScript, stream: boolean) => {
      const fail = failCounter.shouldFail(script);
      failMidstream = fail && stream && script.error!.after_tokens !== undefined;
      return fail && !failMidstream;
    };
    const withoutMidstream = (script: MockScript, _stream: boolean): MockScript =>
      failMidstream ? script : { ...script, error: undefined };

    const dialect = OPENAI_DIALECT_PATHS[path];
    if (dialect) {
      ctx.count(`${dialect}.chat`);
      const messages = body.messages as Parameters<typeof lastUserText>[0];
      const script = scriptFor(lastUserText(messages));
      if (dialect !== 'openai' && !req.headers.authorization)
        return sendOpenAIError(res, { ...script, error: { status: 401, message: 'Invalid API Key' } }, dialect);
      if (failsNow(script, body.stream === true)) return sendOpenAIError(res, script, dialect);
      return handleOpenAIChat(ctx, req, res, body, withoutMidstream(script, body.stream === true), dialect);
    }
    if (path === `${SIM.openai}/embeddings`) return handleOpenAIEmbeddings(ctx, res, body);

    if (path === `${SIM.anthropic}/v1/messages/count_tokens`) {
      ctx.count('anthropic.count_tokens');
      if (!req.headers['x-api-key'] && !req.headers.authorization) return sendAnthropicError(res, 401, 'x-api-key header is required');
      return handleAnthropicCountTokens(res, body as AnthropicBody);
    }
    if (path === `${SIM.anthropic}/v1/messages`) {
      ctx.count('anthropic.messages');
      const b = body as AnthropicBody;
      // Anthropic takes a key in x-api-key or a bearer token (newer SDKs send the latter).
      if (!req.headers['x-api-key'] && !req.headers.authorization) return sendAnthropicError(res, 401, 'x-api-key header is required');
      const invalid = validateAnthropic(req, b);
      if (invalid) return sendAnthropicError(res, 400, invalid);
      const script = scriptFor(anthropicScriptText(b));
      if (failsNow(script, b.stream === true)) {
        const e = script.error!;
        return sendAnthropicError(res, e.status, e.message ?? `simulated error ${e.status}`, { retry_after: e.retry_after, type: e.type });
      }
      return handleAnthropicMessages(ctx, req, res, b, withoutMidstream(script, b.stream === true));
    }

    const gem = GEMINI_PATH.exec(path);
    if (gem) {
      const [, model, method] = gem as unknown as [string, string, string];
      ctx.count(`gemini.${method}`);
      const b = body as GeminiBody;
      if (method === 'batchEmbedContents' || method === 'embedContent') return handleGeminiEmbed(res, method === 'batchEmbedContents', b);
      const stream = method === 'streamGenerateContent';
      if (stream && url.searchParams.get('alt') !== 'sse') return sendGeminiError(res, 400, 'this simulator streams only with alt=sse');
      const invalid = validateGemini(req, model, b);
      if (invalid) return sendGeminiError(res, invalid.startsWith('Method') ? 403 : 400, invalid);
      const script = scriptFor(geminiScriptText(b));
      if (failsNow(script, stream))
        return sendGeminiError(
          res,
          script.error!.status,
          script.error!.message ?? `simulated error ${script.error!.status}`,
          script.error!.retry_after,
        );
      return handleGeminiGenerate(ctx, req, res, model, stream, b, withoutMidstream(script, stream));
    }

    if (path === `${SIM.ollama}/api/chat` || path === `${SIM.ollama}/api/embed`) {
      const b = body as OllamaBody;
      const invalid = validateOllama(b);
      if (invalid) return sendOllamaError(res, 400, invalid);
      if (path === `${SIM.ollama}/api/embed`) return handleOllamaEmbed(res, b);
      ctx.count('ollama.chat');
      const stream = b.stream !== false;
      const script = scriptFor(ollamaScriptText(b));
      if (failsNow(script, stream))
        return sendOllamaError(res, script.error!.status, script.error!.message ?? `simulated error ${script.error!.status}`);
      return handleOllamaChat(ctx, req, res, b, withoutMidstream(script, stream));
    }
    for (const module of SIMULATOR_MODULES) {
      const prefix = getDescriptor(module.provider)!.simulatorPath;
      if (!path.startsWith(`${prefix}/`)) continue;
      const sub = { ctx, req, res, path: path.slice(prefix.length), body, scriptFor, failsNow, withoutMidstream };
      if (await module.handle(sub)) return;
    }
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
    failingModelLists,
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
