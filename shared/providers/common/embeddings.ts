// Embeddings helpers for providers whose API differs from OpenAI's.
import type { EmbeddingsRequest } from '../../protocol/openai.ts';

/** OpenAI clients ask for base64 by default (little-endian float32) and decode it themselves. */
export function encodeEmbedding(values: number[], encoding: 'float' | 'base64' | undefined): number[] | string {
  return encoding === 'base64' ? Buffer.from(new Float32Array(values).buffer).toString('base64') : values;
}

export function embeddingInputs(req: EmbeddingsRequest): string[] {
  const input = req.input;
  if (typeof input === 'string') return [input];
  // Token-id inputs have no Gemini/Ollama counterpart; they are sent as text so the request still answers.
  return (input as unknown[]).map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
}
