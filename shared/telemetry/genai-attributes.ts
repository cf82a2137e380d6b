// OpenTelemetry GenAI semantic-convention attributes (gen_ai.*) from Switchyard's own shapes: pure
// functions, so the mapping is tested without a collector. Both the newer `gen_ai.provider.name`
// and the older `gen_ai.system` are set: backends read one or the other.
import type { Attributes } from '@opentelemetry/api';
import type { EventBody, Usage } from '../protocol/events.ts';

/** Well-known provider names of the semantic conventions; other providers keep their own name. */
const WELL_KNOWN_PROVIDERS: Record<string, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'gcp.gemini',
  groq: 'groq',
  xai: 'x_ai',
  mistral: 'mistral_ai',
};

export function genAiProviderName(provider: string): string {
  return WELL_KNOWN_PROVIDERS[provider] ?? provider;
}

export function genAiRequestAttributes(operation: 'chat' | 'embeddings', provider: string | null, requestModel: string | null): Attributes {
  const a: Attributes = { 'gen_ai.operation.name': operation };
  if (provider) {
    a['gen_ai.provider.name'] = genAiProviderName(provider);
    a['gen_ai.system'] = genAiProviderName(provider);
  }
  if (requestModel) a['gen_ai.request.model'] = requestModel;
  return a;
}

export function genAiUsageAttributes(usage: Pick<Usage, 'prompt_tokens'> & Partial<Pick<Usage, 'completion_tokens'>>): Attributes {
  return {
    'gen_ai.usage.input_tokens': usage.prompt_tokens,
    'gen_ai.usage.output_tokens': usage.completion_tokens ?? 0,
  };
}

/** What a terminal event (`done`, `result`) tells about the response; nothing for other events. */
export function genAiResponseAttributes(ev: EventBody): Attributes | null {
  if (ev.type !== 'done' && ev.type !== 'result') return null;
  const a: Attributes = { 'gen_ai.response.model': ev.model, ...genAiUsageAttributes(ev.usage) };
  if (ev.type === 'done' || ev.kind === 'chat') a['gen_ai.response.finish_reasons'] = [ev.finish_reason ?? 'stop'];
  return a;
}
