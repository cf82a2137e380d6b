// Gemini usually gives function calls no id, and Gemini 3 wants each call's `thoughtSignature` back on
// the next request. Both travel in the OpenAI tool call id: `call_<hex>` (or Gemini's own id), then
// `__ts__` and the signature, base64url-encoded. Clients echo the id untouched in `tool_call_id` and
// in the assistant turn they send back, so the signature returns without any server-side state.
import { randomBytes } from 'node:crypto';

const SEPARATOR = '__ts__';
const SYNTHESIZED = /^call_[0-9a-f]{24}$/;

export function encodeGeminiToolCallId(providerId: string | undefined, thoughtSignature: string | undefined): string {
  const base = providerId || `call_${randomBytes(12).toString('hex')}`;
  return thoughtSignature ? `${base}${SEPARATOR}${Buffer.from(thoughtSignature, 'utf8').toString('base64url')}` : base;
}

export function decodeGeminiToolCallId(id: string): { providerId: string | undefined; thoughtSignature: string | undefined } {
  const at = id.indexOf(SEPARATOR);
  const base = at === -1 ? id : id.slice(0, at);
  const sig = at === -1 ? undefined : Buffer.from(id.slice(at + SEPARATOR.length), 'base64url').toString('utf8');
  return { providerId: SYNTHESIZED.test(base) ? undefined : base, thoughtSignature: sig || undefined };
}
