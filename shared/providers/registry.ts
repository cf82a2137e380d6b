// Every provider, by the name used in `<provider>/<model>`, in subjects and in the config file.
// Built-in providers are one folder each (adapter + descriptor.ts) and one line below; any
// OpenAI-compatible upstream can also be declared in the config file (`type: openai-compatible`),
// served by the OpenAI adapter under its own name. Every list of providers in the code derives from here.
import type { ProviderAdapter } from './types.ts';
import type { ProviderDescriptor } from './descriptor.ts';
import type { FileConfig } from '../config/file.ts';
import { openAICompatibleAdapter } from './openai/index.ts';
import { openaiDescriptor } from './openai/descriptor.ts';
import { anthropicDescriptor } from './anthropic/descriptor.ts';
import { geminiDescriptor } from './gemini/descriptor.ts';
import { groqDescriptor } from './groq/descriptor.ts';
import { xaiDescriptor } from './xai/descriptor.ts';
import { ollamaDescriptor } from './ollama/descriptor.ts';
import { mistralDescriptor } from './mistral/descriptor.ts';
import { NAMESPACED_MODEL_NAMES } from './common/model-name-rules.ts';
import { openAIRateLimits } from './common/rate-limit-headers.ts';
import { FORWARDED_AS_IS, withRequestFieldCheck } from './request-fields.ts';

export type { ProviderDescriptor };

/** A descriptor whose adapter refuses, before building the upstream request, the fields its table refuses. */
function checked(d: ProviderDescriptor): ProviderDescriptor {
  return { ...d, adapter: withRequestFieldCheck(d.adapter, d.requestFields) };
}

export const BUILTIN_PROVIDERS: readonly ProviderDescriptor[] = [
  openaiDescriptor,
  anthropicDescriptor,
  geminiDescriptor,
  groqDescriptor,
  xaiDescriptor,
  ollamaDescriptor,
  mistralDescriptor,
].map(checked);

export const BUILTIN_PROVIDER_NAMES: readonly string[] = BUILTIN_PROVIDERS.map((d) => d.name);

const builtins = new Map(BUILTIN_PROVIDERS.map((d) => [d.name, d]));

/** Provider types the config file can declare without code. */
export const PROVIDER_TYPES = ['openai-compatible'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export function isBuiltinProvider(name: string): boolean {
  return builtins.has(name);
}

/** `KEY` of `KEY_API_KEY` for a provider name (`my-llm` -> `MY_LLM`). */
export function envPrefixOf(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

// An adapter is stateless and depends only on its name: one per declared name, not one per request.
const declaredAdapters = new Map<string, ProviderAdapter>();

function declaredDescriptor(name: string, declared: NonNullable<FileConfig['providers'][string]>): ProviderDescriptor {
  let adapter = declaredAdapters.get(name);
  if (!adapter) declaredAdapters.set(name, (adapter = withRequestFieldCheck(openAICompatibleAdapter(name, true), FORWARDED_AS_IS)));
  return {
    name,
    envPrefix: envPrefixOf(name),
    defaultBaseUrl: declared.base_url ?? '',
    needsKey: true,
    defaultModels: declared.models ?? [],
    modelNames: NAMESPACED_MODEL_NAMES,
    rateLimits: openAIRateLimits,
    // No simulator of its own: point base_url at any OpenAI-compatible server, the OpenAI simulator included.
    simulatorPath: '',
    inCapabilityMatrix: false,
    requestFields: FORWARDED_AS_IS,
    adapter,
  };
}

/** A built-in provider, or one the config file declares; undefined for any other name. */
export function getDescriptor(provider: string, file?: FileConfig | null): ProviderDescriptor | undefined {
  const builtin = builtins.get(provider);
  if (builtin) return builtin;
  const declared = file && Object.hasOwn(file.providers, provider) ? file.providers[provider] : undefined;
  return declared?.type ? declaredDescriptor(provider, declared) : undefined;
}

export function getAdapter(provider: string, file?: FileConfig | null): ProviderAdapter | undefined {
  return getDescriptor(provider, file)?.adapter;
}

/** Built-in providers, then those the config file declares, in file order. */
export function providerNames(file?: FileConfig | null): string[] {
  const declared = Object.entries(file?.providers ?? {}).filter(([name, p]) => p?.type && !builtins.has(name));
  return [...BUILTIN_PROVIDER_NAMES, ...declared.map(([name]) => name)];
}

/** Every provider with an adapter: each gets its own NATS subject and worker consumer. */
export function adapterNames(file?: FileConfig | null): string[] {
  return providerNames(file);
}
