// For providers without an embeddings API. The worker checks `supportsEmbeddings` first and answers
// 404 model_not_found; these only guard against a caller that skips that check.
import { errors } from '../../protocol/errors.ts';
import { AdapterError, type ProviderAdapter } from '../types.ts';

export function noEmbeddings(provider: string): Pick<ProviderAdapter, 'buildEmbeddingsRequest' | 'parseEmbeddingsResponse'> {
  const fail = (): never => {
    throw AdapterError.from(errors.noEmbeddings(provider));
  };
  return { buildEmbeddingsRequest: fail, parseEmbeddingsResponse: fail };
}
