// Process configuration from the environment, validated once at start.
import { z } from 'zod';
import type { FileConfig } from './file.ts';
import { BUILTIN_PROVIDERS, BUILTIN_PROVIDER_NAMES } from '../providers/registry.ts';

/** The built-in providers (shared/providers/registry.ts); the config file may declare more. */
export const PROVIDER_NAMES = BUILTIN_PROVIDER_NAMES as readonly [string, ...string[]];
/** A built-in or config-declared provider name. */
export type ProviderName = string;

export const DEFAULT_BASE_URLS: Record<ProviderName, string> = Object.fromEntries(BUILTIN_PROVIDERS.map((d) => [d.name, d.defaultBaseUrl]));

export interface ProviderEndpoint {
  name: ProviderName;
  baseUrl: string;
  apiKey: string | undefined;
  /** False: no key and no endpoint was given (production); requests to it get 503 provider_not_configured. */
  configured?: boolean;
  /** The endpoint is a built-in simulator (development only): answers carry `x-switchyard-simulated: true`. */
  simulated?: boolean;
}

const int = (def: number) => z.coerce.number().int().nonnegative().default(def);

export const envSchema = z.object({
  /**
   * development: providers without a key answer from the simulators (SIMULATOR_URL), HOST defaults to
   * 127.0.0.1. production: such providers are not configured, HOST defaults to 0.0.0.0. `npm start`
   * defaults to development, the separate service entry points to production.
   */
  SWITCHYARD_MODE: z.enum(['development', 'production']).default('production'),
  PORT: int(8080),
  /** Default depends on SWITCHYARD_MODE (see loadConfig). */
  HOST: z.string().optional(),
  /** Root URL of services/mock-providers; in development, providers without a key are pointed at it. */
  SIMULATOR_URL: z.string().optional(),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  /** Copies of every JetStream stream and KV bucket: 3 on a 3-node cluster (docs/scaling.md), 1 on one server. */
  NATS_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** SIGTERM: how long a service finishes in-flight work (streams, upstream calls) before it exits anyway. */
  DRAIN_TIMEOUT_MS: int(30_000),
  /** Worker, ledger, batch: port of /healthz and /readyz for probes (unset: none; the ingress serves them on PORT). */
  HEALTH_PORT: z.coerce.number().int().positive().optional(),
  DATABASE_URL: z.string().optional(),
  /** 0: no named (prepared) statements on Postgres, for a pooler that cannot carry them (shared/db/prepared.ts). */
  DATABASE_PREPARED_STATEMENTS: z.enum(['0', '1']).default('1'),
  SWITCHYARD_DATA_DIR: z.string().default('.data'),
  ADMIN_API_KEY: z.string().optional(),
  BOOTSTRAP_API_KEY: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DEFAULT_PROVIDER: z.enum(PROVIDER_NAMES).default('openai'),
  /** Seconds before an unacknowledged request is redelivered to another worker. */
  WORKER_ACK_WAIT_SECONDS: z.coerce.number().positive().default(30),
  WORKER_MAX_DELIVER: int(5),
  /** How long a ledger may hold usage records unacked before JetStream hands them to another (or a
   *  restarted) ledger: a ledger killed mid-batch delays those rows by this much. */
  LEDGER_ACK_WAIT_SECONDS: z.coerce.number().positive().default(30),
  /** Requests one worker process runs at once, per provider. */
  WORKER_CONCURRENCY: int(1024),
  WORKER_MAX_RETRIES: int(2),
  /** Whole-request deadline at the ingress. */
  REQUEST_TIMEOUT_MS: int(600_000),
  UPSTREAM_TIMEOUT_MS: int(300_000),
  /** Largest non-streaming upstream body, and largest single streamed event (docs/security.md). */
  UPSTREAM_MAX_BODY_BYTES: int(4 * 1024 * 1024),
  UPSTREAM_MAX_EVENT_BYTES: int(1024 * 1024),
  EVENTS_MAX_AGE_SECONDS: int(600),
  /** Cap of the LLM_EVENTS stream, resume owner records included (docs/benchmarks.md, levers row "events16"). */
  EVENTS_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(512 * 1024 * 1024),
  /** Storage of the LLM_REQUESTS stream when it is first created (docs/benchmarks.md: the trade-off). */
  NATS_REQUEST_STORAGE: z.enum(['file', 'memory']).default('file'),
  /**
   * Storage of LLM_EVENTS (resume owner records included) when first created: `file` keeps resumable
   * streams across a nats-server restart; `memory` loses them there.
   */
  EVENTS_STORAGE: z.enum(['file', 'memory']).default('file'),
  AUTH_CACHE_TTL_MS: int(30_000),
  /** Deepest JSON nesting a request body may have (400 above it): deep bodies overflow recursive code. */
  MAX_JSON_DEPTH: int(64),
  // ---- async work: batches, async requests, resumable streams, WebSocket (docs/batch.md, docs/websocket.md) ----
  /** A disconnected SSE/WebSocket stream keeps running this long, so the client can resume it. */
  STREAM_RESUME_GRACE_MS: int(10_000),
  /** How long a `Prefer: respond-async` result stays readable. */
  ASYNC_RESULT_TTL_SECONDS: int(24 * 3600),
  /** How long a stored Responses API response stays readable and chainable (OpenAI keeps 30 days). */
  RESPONSES_RETENTION_SECONDS: int(30 * 24 * 3600),
  /** Largest accepted upload and most lines per batch input file (OpenAI: 200 MB, 50,000). */
  FILES_MAX_BYTES: int(200 * 1024 * 1024),
  BATCH_MAX_LINES: int(50_000),
  /** Lines one batch may have queued or running at once (bounds the queue and makes cancel quick). */
  BATCH_WINDOW: int(2_048),
  /** Batch runner lease on a batch; another runner takes over this long after one dies. */
  BATCH_LEASE_SECONDS: z.coerce.number().positive().default(15),
  /** How long a cancelling batch waits for its running lines before it is closed. */
  BATCH_CANCEL_GRACE_MS: int(60_000),
  /** A batch step (read input, dispatch, finalize) failing this many times in a row fails the batch. */
  BATCH_STEP_MAX_ATTEMPTS: z.coerce.number().int().positive().default(5),
  /** First retry delay of a failing batch step; doubles per attempt (1, 2, 4, 8 s by default). */
  BATCH_STEP_RETRY_MS: int(1_000),
  /** Batch requests one worker process runs at once (only while interactive work leaves room). */
  WORKER_BATCH_CONCURRENCY: int(128),
  /** WebSocket: pause reading above this many buffered bytes; drop the socket above the second. */
  WS_HIGH_WATER_BYTES: int(1024 * 1024),
  WS_MAX_BUFFERED_BYTES: int(8 * 1024 * 1024),
  WS_PING_INTERVAL_MS: int(30_000),
  WS_MAX_REQUESTS_PER_SOCKET: int(1_000),
  /** SSE: bytes one stream may hold unsent for a slow client, and how long its socket may stay full; then it is ended. */
  SSE_MAX_BUFFERED_BYTES: int(1024 * 1024),
  SSE_STUCK_TIMEOUT_MS: int(30_000),
  /** WebSockets one API key may hold open on one ingress; more are refused with 429 at the upgrade. */
  WS_MAX_SOCKETS_PER_KEY: int(100),
  // ---- end async work ----
  // ---- tenant controls and routing policy (docs/guardrails.md) ----
  /** Output tokens assumed for TPM and budget reservations when a request sets no max_tokens. */
  LIMITS_DEFAULT_MAX_TOKENS: int(4096),
  /** With a further fallback target: wait this long for the upstream's response headers, then fall back. */
  FALLBACK_TIMEOUT_MS: int(30_000),
  /** Consecutive failures that open a target's circuit breaker, and how long it stays open. */
  BREAKER_FAILURES: int(5),
  BREAKER_COOLDOWN_MS: int(10_000),
  /** When set, GET /metrics (ingress and worker) needs `Authorization: Bearer <token>`. */
  METRICS_TOKEN: z.string().min(1).optional(),
  /** Distinct upstream targets named in metric labels besides the config file's; the rest are `<provider>/other`. */
  METRICS_MAX_TARGET_LABELS: int(50),
  /** Optional Prometheus port of a worker process (GET /metrics). */
  WORKER_METRICS_PORT: z.coerce.number().int().positive().optional(),
  // ---- models, response cache (docs/caching.md) ----
  /** How often the ingress refetches each provider's model list for GET /v1/models (0: only at start). */
  MODELS_REFRESH_SECONDS: int(600),
  /** How long one model-list fetch may take before it counts as failed. */
  MODELS_FETCH_TIMEOUT_MS: int(5_000),
  /** Longest TTL a cached answer may have (the KV bucket's max age); longer requested TTLs are capped. */
  RESPONSE_CACHE_MAX_TTL_SECONDS: z.coerce.number().int().positive().default(86_400),
  /** Largest answer stored in the cache (its JSON); bigger answers are served but not stored. */
  RESPONSE_CACHE_MAX_ENTRY_BYTES: int(256 * 1024),
  /** A cache read or write slower than this counts as an outage: the request is a miss. */
  RESPONSE_CACHE_TIMEOUT_MS: z.coerce.number().int().positive().default(1_000),
  /**
   * OpenTelemetry tracing (docs/observability.md): on when an OTLP endpoint is set. The SDK reads these
   * (and every other standard OTEL_* variable) from the environment itself; they are listed here so a
   * typo in the protocol fails at start instead of silently exporting nothing.
   */
  // Empty = unset, as compose files write `${VAR:-}`.
  OTEL_EXPORTER_OTLP_ENDPOINT: z.union([z.literal(''), z.url()]).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.union([z.literal(''), z.url()]).optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json', 'grpc']).optional(),
  OTEL_SERVICE_NAME: z.string().optional(),
  OTEL_TRACES_SAMPLER: z.string().optional(),
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).optional(),
});

export type Env = z.infer<typeof envSchema>;

export interface SwitchyardConfig extends Omit<Env, 'HOST'> {
  HOST: string;
  providers: Record<ProviderName, ProviderEndpoint>;
  /** The SWITCHYARD_CONFIG file (aliases, upstream keys, prices), set by boot(); null without one. */
  file?: FileConfig | null;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): SwitchyardConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid environment:\n${lines.join('\n')}`);
  }
  const providers = {} as Record<ProviderName, ProviderEndpoint>;
  for (const { name, envPrefix, defaultBaseUrl } of BUILTIN_PROVIDERS) {
    providers[name] = {
      name,
      baseUrl: (env[`${envPrefix}_BASE_URL`] || defaultBaseUrl).replace(/\/+$/, ''),
      apiKey: env[`${envPrefix}_API_KEY`] || undefined,
    };
  }
  // Loopback unless asked otherwise: a development start must not expose its simulators and key to the network.
  const HOST = parsed.data.HOST || (parsed.data.SWITCHYARD_MODE === 'development' ? '127.0.0.1' : '0.0.0.0');
  return { ...parsed.data, HOST, providers };
}
