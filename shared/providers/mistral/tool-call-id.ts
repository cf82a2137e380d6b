// Mistral accepts only tool call ids of exactly 9 letters and digits (it rejects `call_…` ids from
// OpenAI and other providers with a 422). Foreign ids are mapped to 9 characters derived from the id, so
// an assistant turn's call and the tool result answering it still match; Mistral's own ids pass unchanged.
import { createHash } from 'node:crypto';

const MISTRAL_ID = /^[A-Za-z0-9]{9}$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function toMistralToolCallId(id: string): string {
  if (MISTRAL_ID.test(id)) return id;
  const digest = createHash('sha256').update(id).digest();
  let out = '';
  for (let i = 0; i < 9; i++) out += ALPHABET[digest[i]! % ALPHABET.length];
  return out;
}
