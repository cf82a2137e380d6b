// Ollama native API: /api/chat (NDJSON stream) and /api/embed.
import type { ProviderAdapter } from '../types.ts';
import { buildOllamaChatRequest, buildOllamaEmbeddingsRequest } from './build-request.ts';
import { parseOllamaChatResponse } from './parse-response.ts';
import { createOllamaStreamTranslator } from './stream.ts';
import { parseOllamaEmbeddingsResponse } from './embeddings.ts';
import { parseOllamaError } from './errors.ts';

export const ollama: ProviderAdapter = {
  name: 'ollama',
  supportsEmbeddings: true,
  buildChatRequest: buildOllamaChatRequest,
  parseChatResponse: parseOllamaChatResponse,
  createStreamTranslator: createOllamaStreamTranslator,
  buildEmbeddingsRequest: buildOllamaEmbeddingsRequest,
  parseEmbeddingsResponse: parseOllamaEmbeddingsResponse,
  parseError: parseOllamaError,
};
