// Groq errors are OpenAI-shaped (plus `failed_generation`); 498 is Groq's "flex tier at capacity",
// which a client should read as 503 and retry.
import type { UpstreamError } from '../types.ts';
import { parseOpenAIError } from '../openai/errors.ts';

export function parseGroqError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  const err = parseOpenAIError(status === 498 ? 503 : status, bodyText, headers);
  if (status === 498) {
    err.retryable = true;
    err.error.code ??= 'capacity_exceeded';
  }
  return err;
}
