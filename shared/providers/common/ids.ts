// Tool call ids for providers that give none (Gemini, older Ollama): unique, and the same on every
// fragment of one call so a client can stitch a stream together.
import { randomBytes } from 'node:crypto';

export function synthesizeToolCallId(): string {
  return `call_${randomBytes(12).toString('base64url')}`;
}
