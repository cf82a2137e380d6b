// Gemini finishReason -> OpenAI finish_reason. Gemini has no "tool calls" reason: STOP with
// functionCall parts is one.
const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT']);

export function mapGeminiFinishReason(reason: string | null | undefined, hasToolCalls: boolean): string {
  if (reason === 'MAX_TOKENS') return 'length';
  if (reason && FILTERED.has(reason)) return 'content_filter';
  if (hasToolCalls) return 'tool_calls';
  // STOP, and MALFORMED_FUNCTION_CALL / OTHER / LANGUAGE, which OpenAI has no value for.
  return 'stop';
}
