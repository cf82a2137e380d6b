// xAI: OpenAI-compatible chat with a flat error body and reasoning tokens outside completion_tokens.
// No embeddings API.
import type { ProviderAdapter, StreamTranslator } from '../types.ts';
import { openAICompatibleAdapter } from '../openai/index.ts';
import { parseOpenAIChatResponse } from '../openai/parse-response.ts';
import { createOpenAIStreamTranslator } from '../openai/stream.ts';
import { noEmbeddings } from '../common/no-embeddings.ts';
import { buildXaiChatRequest } from './build-request.ts';
import { parseXaiError } from './errors.ts';
import { fixXaiUsage } from './usage.ts';

function createXaiStreamTranslator(): StreamTranslator {
  const inner = createOpenAIStreamTranslator();
  const fix = (parts: ReturnType<StreamTranslator['push']>) =>
    parts.map((p) => (p.type === 'usage' ? { ...p, usage: fixXaiUsage(p.usage) } : p));
  return { push: (text) => fix(inner.push(text)), end: () => fix(inner.end()) };
}

export const xai: ProviderAdapter = {
  ...openAICompatibleAdapter('xai', false),
  buildChatRequest: buildXaiChatRequest,
  parseChatResponse(body, model) {
    const result = parseOpenAIChatResponse(body, model);
    return { ...result, usage: fixXaiUsage(result.usage) };
  },
  createStreamTranslator: createXaiStreamTranslator,
  ...noEmbeddings('xai'),
  parseError: parseXaiError,
};
