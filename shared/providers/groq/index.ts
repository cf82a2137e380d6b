// Groq: OpenAI-compatible. Its quirks (usage in `x_groq.usage`, `delta.reasoning`, `event: error`
// mid-stream with `status_code`) are handled by the OpenAI stream translator; request and error
// differences live here. No embeddings API.
import type { ProviderAdapter } from '../types.ts';
import { openAICompatibleAdapter } from '../openai/index.ts';
import { noEmbeddings } from '../common/no-embeddings.ts';
import { buildGroqChatRequest } from './build-request.ts';
import { parseGroqError } from './errors.ts';

export const groq: ProviderAdapter = {
  ...openAICompatibleAdapter('groq', false),
  buildChatRequest: buildGroqChatRequest,
  ...noEmbeddings('groq'),
  parseError: parseGroqError,
};
