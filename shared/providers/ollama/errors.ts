// Ollama `{"error":"<message>"}` -> OpenAI error envelope.
import { z } from 'zod';
import type { UpstreamError } from '../types.ts';
import { looksLikeModelNotFound, parseErrorResponse, upstreamError } from '../common/errors.ts';

const errorBodySchema = z.object({ error: z.union([z.string(), z.object({ message: z.string() }).loose()]) }).loose();

export function ollamaErrorFromMessage(message: string, status: number): UpstreamError {
  return upstreamError(status, message, looksLikeModelNotFound(status, message) ? 'model_not_found' : null);
}

export function parseOllamaError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  return parseErrorResponse(status, bodyText, headers, (json, fallbackMessage) => {
    const parsed = errorBodySchema.safeParse(json);
    const message = parsed.success
      ? typeof parsed.data.error === 'string'
        ? parsed.data.error
        : parsed.data.error.message
      : fallbackMessage;
    return ollamaErrorFromMessage(message, status);
  });
}
