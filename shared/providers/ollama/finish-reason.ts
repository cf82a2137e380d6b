// Ollama done_reason -> OpenAI finish_reason. Ollama says "stop" after tool calls too; its own
// OpenAI layer turns that into "tool_calls", and so do we.
export function mapOllamaDoneReason(reason: string | null | undefined, hasToolCalls: boolean): string {
  if (reason === 'length') return 'length';
  if (hasToolCalls) return 'tool_calls';
  return 'stop'; // stop, load, unload
}
