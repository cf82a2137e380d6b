// Gemini (Generative Language API v1beta, native): generateContent, streamGenerateContent?alt=sse,
// batchEmbedContents.
import type { ProviderAdapter } from '../types.ts';
import { buildGeminiChatRequest, buildGeminiEmbeddingsRequest } from './build-request.ts';
import { parseGeminiChatResponse } from './parse-response.ts';
import { createGeminiStreamTranslator } from './stream.ts';
import { parseGeminiEmbeddingsResponse } from './embeddings.ts';
import { parseGeminiError } from './errors.ts';

export const gemini: ProviderAdapter = {
  name: 'gemini',
  supportsEmbeddings: true,
  buildChatRequest: buildGeminiChatRequest,
  parseChatResponse: parseGeminiChatResponse,
  createStreamTranslator: createGeminiStreamTranslator,
  buildEmbeddingsRequest: buildGeminiEmbeddingsRequest,
  parseEmbeddingsResponse: parseGeminiEmbeddingsResponse,
  parseError: parseGeminiError,
};
