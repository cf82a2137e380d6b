// What the cache stores for one answer, and the two ways back to the client: a chat.completion
// message (JSON) and the list of content deltas (SSE). A streamed answer is stored as its deltas, so
// a replayed stream has the same chunks as the first; a JSON answer is stored as its message.
import type { AssistantMessage, ChunkDelta, ToolCallDelta, Usage } from '../../../shared/protocol/events.ts';

export interface CachedAnswer {
  v: 1;
  /** Epoch ms after which the entry is stale (the bucket's max age is only the upper bound). */
  expires_at: number;
  provider: string;
  /** `provider/model` that served the first request. */
  target: string;
  simulated?: boolean;
  finish_reason: string;
  usage: Usage;
  message?: AssistantMessage;
  deltas?: ChunkDelta[];
}

/** Finish reasons of complete answers; anything else (content_filter, errors, cut-offs) is not stored. */
export const CACHEABLE_FINISH_REASONS: ReadonlySet<string> = new Set(['stop', 'length', 'tool_calls']);

/** The message a list of stream deltas adds up to (tool calls joined by index). */
export function messageOf(answer: CachedAnswer): AssistantMessage {
  if (answer.message) return answer.message;
  let content: string | null = null;
  let reasoning: string | undefined;
  const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  for (const d of answer.deltas ?? []) {
    if (d.content) content = (content ?? '') + d.content;
    if (d.reasoning_content) reasoning = (reasoning ?? '') + d.reasoning_content;
    for (const t of d.tool_calls ?? []) {
      const call = (calls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
      if (t.id) call.id = t.id;
      if (t.function?.name) call.function.name += t.function.name;
      if (t.function?.arguments) call.function.arguments += t.function.arguments;
    }
  }
  const message: AssistantMessage = { role: 'assistant', content };
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  if (calls.length > 0) message.tool_calls = calls.filter(Boolean);
  return message;
}

/** The deltas to replay: the stored ones, or a JSON answer as one delta. */
export function deltasOf(answer: CachedAnswer): ChunkDelta[] {
  if (answer.deltas) return answer.deltas;
  const m = answer.message!;
  const delta: ChunkDelta = {};
  if (m.content !== null && m.content !== undefined) delta.content = m.content;
  if (m.reasoning_content) delta.reasoning_content = m.reasoning_content;
  if (m.tool_calls) delta.tool_calls = m.tool_calls.map((t, index): ToolCallDelta => ({ index, ...t }));
  return [delta];
}
