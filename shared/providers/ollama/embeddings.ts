// Ollama /api/embed response -> OpenAI embeddings result.
import { z } from 'zod';
import type { EmbeddingsRequest } from '../../protocol/openai.ts';
import type { EmbeddingsResult } from '../types.ts';
import { encodeEmbedding } from '../common/embeddings.ts';

const embedSchema = z
  .object({ model: z.string().optional(), embeddings: z.array(z.array(z.number())), prompt_eval_count: z.number().optional() })
  .loose();

export function parseOllamaEmbeddingsResponse(body: unknown, model: string, req?: EmbeddingsRequest): EmbeddingsResult {
  const parsed = embedSchema.parse(body);
  const prompt = parsed.prompt_eval_count ?? 0;
  return {
    data: parsed.embeddings.map((values, index) => ({
      object: 'embedding',
      index,
      embedding: encodeEmbedding(values, req?.encoding_format),
    })),
    usage: { prompt_tokens: prompt, total_tokens: prompt },
    model: parsed.model ?? model,
  };
}
