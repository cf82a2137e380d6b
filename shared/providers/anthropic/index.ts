// Anthropic Messages API (`POST /v1/messages`). No embeddings: Anthropic points to Voyage AI for those.
import type { ProviderAdapter } from '../types.ts';
import { buildAnthropicChatRequest } from './build-request.ts';
import { parseAnthropicChatResponse } from './parse-response.ts';
import { createAnthropicStreamTranslator } from './stream.ts';
import { parseAnthropicError } from './errors.ts';
import { noEmbeddings } from '../common/no-embeddings.ts';

export const anthropic: ProviderAdapter = {
  name: 'anthropic',
  supportsEmbeddings: false,
  buildChatRequest: buildAnthropicChatRequest,
  parseChatResponse: parseAnthropicChatResponse,
  createStreamTranslator: createAnthropicStreamTranslator,
  ...noEmbeddings('anthropic'),
  parseError: parseAnthropicError,
};
