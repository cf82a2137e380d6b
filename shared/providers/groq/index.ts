// Groq: OpenAI-compatible. Usage under `x_groq.usage` is a stream hook (./usage.ts); `delta.reasoning`
// and a mid-stream `event: error` are read by the OpenAI translator as OpenAI-compatible servers send
// them too; request and error differences live here. No embeddings API.
import type { ProviderAdapter } from '../types.ts';
import { openAICompatibleAdapter } from '../openai/index.ts';
import { noEmbeddings } from '../common/no-embeddings.ts';
import { buildGroqChatRequest } from './build-request.ts';
import { parseGroqError } from './errors.ts';
import { groqStreamUsage } from './usage.ts';
import { createOpenAIStreamTranslator } from '../openai/stream.ts';

export const groq: ProviderAdapter = {
  ...openAICompatibleAdapter('groq', false),
  buildChatRequest: buildGroqChatRequest,
  createStreamTranslator: () => createOpenAIStreamTranslator({ usageOf: groqStreamUsage }),
  ...noEmbeddings('groq'),
  parseError: parseGroqError,
};
