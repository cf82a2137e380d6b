// For providers without an embeddings API. The worker checks `supportsEmbeddings` first and answers
// 404 model_not_found; these only guard against a caller that skips that check.
import { AdapterError, type ProviderAdapter } from '../types.ts';

export function noEmbeddings(provider: string): Pick<ProviderAdapter, 'buildEmbeddingsRequest' | 'parseEmbeddingsResponse'> {
  const fail = (): never => {
    throw new AdapterError({
      status: 404,
      retryable: false,
      error: {
        message: `Provider '${provider}' does not offer embeddings.`,
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    });
  };
  return { buildEmbeddingsRequest: fail, parseEmbeddingsResponse: fail };
}
