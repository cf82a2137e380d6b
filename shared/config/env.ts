// Process configuration from the environment, validated once at start.
import { z } from 'zod';

export const PROVIDER_NAMES = ['openai', 'anthropic', 'gemini', 'groq', 'xai', 'ollama'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export const DEFAULT_BASE_URLS: Record<ProviderName, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  gemini: 'https://generativelanguage.googleapis.com/v1beta',
  groq: 'https://api.groq.com/openai/v1',
  xai: 'https://api.x.ai/v1',
  ollama: 'http://localhost:11434',
};

export interface ProviderEndpoint {
  name: ProviderName;
  baseUrl: string;
  apiKey: string | undefined;
}

const int = (def: number) => z.coerce.number().int().nonnegative().default(def);

const envSchema = z.object({
  PORT: int(8080),
  HOST: z.string().default('0.0.0.0'),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  DATABASE_URL: z.string().optional(),
  SWITCHYARD_DATA_DIR: z.string().default('.data'),
  ADMIN_API_KEY: z.string().optional(),
  BOOTSTRAP_API_KEY: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DEFAULT_PROVIDER: z.enum(PROVIDER_NAMES).default('openai'),
  /** Seconds before an unacknowledged request is redelivered to another worker. */
  WORKER_ACK_WAIT_SECONDS: z.coerce.number().positive().default(30),
  WORKER_MAX_DELIVER: int(5),
  /** Requests one worker process runs at once, per provider. */
  WORKER_CONCURRENCY: int(1024),
  WORKER_MAX_RETRIES: int(2),
  /** Whole-request deadline at the ingress. */
  REQUEST_TIMEOUT_MS: int(600_000),
  UPSTREAM_TIMEOUT_MS: int(300_000),
  EVENTS_MAX_AGE_SECONDS: int(600),
  AUTH_CACHE_TTL_MS: int(30_000),
});

export type Env = z.infer<typeof envSchema>;

export interface SwitchyardConfig extends Env {
  providers: Record<ProviderName, ProviderEndpoint>;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): SwitchyardConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid environment:\n${lines.join('\n')}`);
  }
  const providers = {} as Record<ProviderName, ProviderEndpoint>;
  for (const name of PROVIDER_NAMES) {
    const prefix = name.toUpperCase();
    providers[name] = {
      name,
      baseUrl: (env[`${prefix}_BASE_URL`] || DEFAULT_BASE_URLS[name]).replace(/\/+$/, ''),
      apiKey: env[`${prefix}_API_KEY`] || undefined,
    };
  }
  return { ...parsed.data, providers };
}
