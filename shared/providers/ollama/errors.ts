// Ollama `{"error":"<message>"}` -> OpenAI error envelope.
import { z } from 'zod';
import { retryAfterFromHeaders } from '../retry-hints.ts';
import type { UpstreamError } from '../types.ts';
import { looksLikeModelNotFound, parseJsonOrNull, upstreamError } from '../common/errors.ts';

const errorBodySchema = z.object({ error: z.union([z.string(), z.object({ message: z.string() }).loose()]) }).loose();

export function ollamaErrorFromMessage(message: string, status: number): UpstreamError {
  return upstreamError(status, message, looksLikeModelNotFound(status, message) ? 'model_not_found' : null);
}

export function parseOllamaError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  const parsed = errorBodySchema.safeParse(parseJsonOrNull(bodyText));
  const message = parsed.success
    ? typeof parsed.data.error === 'string'
      ? parsed.data.error
      : parsed.data.error.message
    : bodyText.slice(0, 500) || `upstream answered HTTP ${status}`;
  const err = ollamaErrorFromMessage(message, status);
  const retryAfterMs = retryAfterFromHeaders(headers);
  if (retryAfterMs !== undefined) err.retryAfterMs = retryAfterMs;
  return err;
}
