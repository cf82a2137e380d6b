// Which upstream each provider talks to, decided once per process at start: a real upstream (a key
// or an endpoint was given), the built-in simulator (development mode only, and only for that
// provider), or nothing (production: requests to it get 503 provider_not_configured). Every process
// decides the same way from the same environment, so ingress and worker agree without talking.
import { ApiError } from '../protocol/errors.ts';
import type { ProviderName, SwitchyardConfig } from './env.ts';
import type { FileConfig } from './file.ts';
import { envPrefixOf, getDescriptor, providerNames } from '../providers/registry.ts';

/** The simulators check that a key is sent, as the real APIs do; any value passes. */
const SIMULATOR_KEY = 'simulator-key';

export type ProviderStatus = 'real' | 'simulator' | 'not_configured';

export interface ProviderPlan {
  provider: ProviderName;
  status: ProviderStatus;
  /** One line for the start-up log, e.g. "anthropic: simulator (no ANTHROPIC_API_KEY)". */
  line: string;
}

const keyVar = (p: ProviderName) => `${envPrefixOf(p)}_API_KEY`;

function decide(
  provider: ProviderName,
  env: NodeJS.ProcessEnv,
  file: FileConfig | null | undefined,
  development: boolean,
  simulatorUrl: string | undefined,
): ProviderStatus {
  const descriptor = getDescriptor(provider, file)!;
  const prefix = descriptor.envPrefix;
  const fromFile = file?.providers[provider];
  if (fromFile?.keysUnset) return 'not_configured';
  const hasKey = Boolean(env[`${prefix}_API_KEY`]) || (fromFile?.api_keys.length ?? 0) > 0;
  // An endpoint without a key is a deliberate choice too (a keyless proxy, a local model server).
  const hasEndpoint = Boolean(env[`${prefix}_BASE_URL`]) || Boolean(fromFile?.base_url);
  if (hasKey || hasEndpoint) return 'real';
  // A config-declared provider always has a base_url, so only built-ins reach here.
  if (development && simulatorUrl) return 'simulator';
  // Ollama needs no key: its default endpoint is the local server.
  return descriptor.needsKey ? 'not_configured' : 'real';
}

/** The decision for every provider, without changing anything (npm start asks whether it needs the simulators). */
export function planProviders(
  env: NodeJS.ProcessEnv,
  file: FileConfig | null | undefined,
  mode: SwitchyardConfig['SWITCHYARD_MODE'],
  simulatorUrl: string | undefined,
): Record<ProviderName, ProviderStatus> {
  const out = {} as Record<ProviderName, ProviderStatus>;
  for (const p of providerNames(file)) out[p] = decide(p, env, file, mode === 'development', simulatorUrl);
  return out;
}

/**
 * Applies the plan to `config.providers` (after the config file's keys and base URLs are in) and
 * returns one log line per provider.
 */
export function applyProviderPlan(config: SwitchyardConfig, env: NodeJS.ProcessEnv): ProviderPlan[] {
  const simulatorUrl = config.SIMULATOR_URL?.replace(/\/+$/, '');
  const statuses = planProviders(env, config.file, config.SWITCHYARD_MODE, simulatorUrl);
  return providerNames(config.file).map((provider) => {
    const endpoint = config.providers[provider]!;
    const descriptor = getDescriptor(provider, config.file)!;
    const status = statuses[provider]!;
    endpoint.configured = status !== 'not_configured';
    endpoint.simulated = status === 'simulator';
    if (status === 'simulator') {
      endpoint.baseUrl = `${simulatorUrl}${descriptor.simulatorPath}`;
      if (descriptor.needsKey) endpoint.apiKey = SIMULATOR_KEY;
    }
    const noKey = descriptor.needsKey ? `no ${keyVar(provider)}` : `no ${descriptor.envPrefix}_BASE_URL`;
    const line =
      status === 'real'
        ? `${provider}: real upstream ${endpoint.baseUrl}`
        : status === 'simulator'
          ? `${provider}: simulator (${noKey})`
          : `${provider}: not configured (${noKey}; requests to it answer 503 provider_not_configured)`;
    return { provider, status, line };
  });
}

export function providerNotConfigured(provider: string): ApiError {
  return new ApiError(
    503,
    `The provider '${provider}' is not configured on this server: set ${envPrefixOf(provider)}_API_KEY (or ${envPrefixOf(provider)}_BASE_URL), ` +
      `or run with SWITCHYARD_MODE=development to use its simulator.`,
    { type: 'server_error', param: 'model', code: 'provider_not_configured' },
  );
}

/** Throws provider_not_configured when none of a route's targets has a configured provider. */
export function assertRouteConfigured(config: SwitchyardConfig, targets: ReadonlyArray<{ provider: string }>): void {
  const ok = targets.some((t) => config.providers[t.provider as ProviderName]?.configured !== false);
  if (!ok && targets[0]) throw providerNotConfigured(targets[0].provider);
}
