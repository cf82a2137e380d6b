// Gemini batchEmbedContents response -> OpenAI embeddings result.
import { z } from 'zod';
import type { EmbeddingsRequest } from '../../protocol/openai.ts';
import type { EmbeddingsResult } from '../types.ts';
import { encodeEmbedding } from '../common/embeddings.ts';

const batchEmbedSchema = z
  .object({
    embeddings: z.array(z.object({ values: z.array(z.number()) }).loose()),
    usageMetadata: z.object({ promptTokenCount: z.number().optional() }).loose().optional(),
  })
  .loose();

export function parseGeminiEmbeddingsResponse(body: unknown, model: string, req?: EmbeddingsRequest): EmbeddingsResult {
  const parsed = batchEmbedSchema.parse(body);
  // The Gemini API reports no token usage for embeddings (newer versions may).
  const prompt = parsed.usageMetadata?.promptTokenCount ?? 0;
  return {
    data: parsed.embeddings.map((e, index) => ({ object: 'embedding', index, embedding: encodeEmbedding(e.values, req?.encoding_format) })),
    usage: { prompt_tokens: prompt, total_tokens: prompt },
    model,
  };
}
