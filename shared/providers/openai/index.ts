// OpenAI Chat Completions and Embeddings: the dialect Switchyard speaks, so mostly pass-through.
import type { ProviderAdapter } from '../types.ts';
import { buildOpenAIChatRequest, buildOpenAIEmbeddingsRequest } from './build-request.ts';
import { parseOpenAIChatResponse, parseOpenAIEmbeddingsResponse } from './parse-response.ts';
import { createOpenAIStreamTranslator } from './stream.ts';
import { parseOpenAIError } from './errors.ts';

/** Groq and xAI speak the same dialect; they reuse this with their own name (and quirks, in their folders). */
export function openAICompatibleAdapter(name: string, supportsEmbeddings: boolean): ProviderAdapter {
  return {
    name,
    supportsEmbeddings,
    buildChatRequest: buildOpenAIChatRequest,
    parseChatResponse: parseOpenAIChatResponse,
    createStreamTranslator: () => createOpenAIStreamTranslator(),
    buildEmbeddingsRequest: buildOpenAIEmbeddingsRequest,
    parseEmbeddingsResponse: parseOpenAIEmbeddingsResponse,
    parseError: parseOpenAIError,
  };
}

export const openai = openAICompatibleAdapter('openai', true);
