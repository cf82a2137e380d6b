// Anthropic stop_reason -> OpenAI finish_reason.
export function mapAnthropicStopReason(reason: string | null | undefined): string {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn (server tool paused; the client re-sends to continue)
      return 'stop';
  }
}

/**
 * A `refusal` stop as OpenAI's `message.refusal`: Anthropic's explanation (`stop_details`), or a
 * plain sentence when it gave none. The finish_reason stays `content_filter`: the answer was blocked.
 */
export function refusalText(explanation: string | null | undefined): string {
  return explanation || 'The model declined to answer this request.';
}
