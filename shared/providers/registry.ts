// Every provider adapter, by the name used in `<provider>/<model>` and in subjects.
import type { ProviderAdapter } from './types.ts';
import { openai } from './openai/index.ts';
import { anthropic } from './anthropic/index.ts';
import { gemini } from './gemini/index.ts';
import { groq } from './groq/index.ts';
import { xai } from './xai/index.ts';
import { ollama } from './ollama/index.ts';

const adapters = new Map<string, ProviderAdapter>([openai, anthropic, gemini, groq, xai, ollama].map((a) => [a.name, a]));

export function getAdapter(provider: string): ProviderAdapter | undefined {
  return adapters.get(provider);
}

export function adapterNames(): string[] {
  return [...adapters.keys()];
}
