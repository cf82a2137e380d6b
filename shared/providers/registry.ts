// Every provider adapter, by the name used in `<provider>/<model>` and in subjects.
import type { ProviderAdapter } from './types.ts';
import { openai } from './openai/index.ts';

const adapters = new Map<string, ProviderAdapter>([[openai.name, openai]]);

export function getAdapter(provider: string): ProviderAdapter | undefined {
  return adapters.get(provider);
}

export function adapterNames(): string[] {
  return [...adapters.keys()];
}
