// Mistral: OpenAI-compatible responses and stream chunks (usage on the last chunk, whole tool calls
// in one delta: the OpenAI parsers read both); request, usage, mid-stream and error differences live here.
// Mistral's embeddings API is not wired yet.
import type { ProviderAdapter } from '../types.ts';
import { openAICompatibleAdapter } from '../openai/index.ts';
import { parseOpenAIChatResponse } from '../openai/parse-response.ts';
import { noEmbeddings } from '../common/no-embeddings.ts';
import { buildMistralChatRequest } from './build-request.ts';
import { parseMistralError } from './errors.ts';
import { mistralUsage } from './usage.ts';
import { createMistralStreamTranslator } from './stream.ts';

export const mistral: ProviderAdapter = {
  ...openAICompatibleAdapter('mistral', false),
  buildChatRequest: buildMistralChatRequest,
  parseChatResponse(body, model) {
    const result = parseOpenAIChatResponse(body, model);
    return { ...result, usage: mistralUsage(result.usage, body) };
  },
  createStreamTranslator: createMistralStreamTranslator,
  ...noEmbeddings('mistral'),
  parseError: parseMistralError,
};
