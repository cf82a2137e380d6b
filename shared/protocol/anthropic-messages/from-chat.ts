// The internal (OpenAI chat) answer -> Anthropic Messages shapes, for every provider but Anthropic
// (whose own answer is relayed as it came): the Message object, and its SSE event sequence.
import type { AssistantMessage, ChunkDelta, Usage } from '../events.ts';

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

export function stopReasonFor(finishReason: string | null | undefined): StopReason {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

export interface MessagesUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** OpenAI's prompt_tokens includes cached tokens; Anthropic's input_tokens leaves them out. */
export function messagesUsage(u: Usage): MessagesUsage {
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    input_tokens: Math.max(0, u.prompt_tokens - cached),
    output_tokens: u.completion_tokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

type ContentBlock =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown };

export function messageBody(id: string, publicModel: string, message: AssistantMessage, finishReason: string | null, usage: Usage) {
  const content: ContentBlock[] = [];
  // Thinking from another provider carries no signature: only Anthropic signs its thinking.
  if (message.reasoning_content) content.push({ type: 'thinking', thinking: message.reasoning_content, signature: '' });
  const text = message.content ?? '';
  if (text !== '' || !message.tool_calls?.length) content.push({ type: 'text', text });
  for (const t of message.tool_calls ?? [])
    content.push({ type: 'tool_use', id: t.id, name: t.function.name, input: parseArguments(t.function.arguments) });
  return {
    id,
    type: 'message' as const,
    role: 'assistant' as const,
    model: publicModel,
    content,
    stop_reason: stopReasonFor(finishReason),
    stop_sequence: null,
    usage: messagesUsage(usage),
  };
}

function parseArguments(args: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    return { raw: args };
  }
}

export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Chat stream deltas -> Messages SSE frames. One content block is open at a time: thinking, text or
 * one tool call; a delta of another kind (or another tool call) closes it and opens the next.
 */
export class MessagesStreamWriter {
  private readonly id: string;
  private readonly publicModel: string;
  private index = -1;
  private open: { kind: 'thinking' | 'text' | 'tool'; toolIndex?: number } | null = null;

  constructor(id: string, publicModel: string) {
    this.id = id;
    this.publicModel = publicModel;
  }

  /** message_start and a ping; the prompt's size is known only at the end (message_delta carries it). */
  start(): string {
    const message = {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.publicModel,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    return sseFrame('message_start', { type: 'message_start', message }) + sseFrame('ping', { type: 'ping' });
  }

  delta(d: ChunkDelta): string {
    let out = '';
    if (d.reasoning_content) {
      out += this.ensure('thinking', { type: 'thinking', thinking: '', signature: '' });
      out += this.blockDelta({ type: 'thinking_delta', thinking: d.reasoning_content });
    }
    if (d.content) {
      out += this.ensure('text', { type: 'text', text: '' });
      out += this.blockDelta({ type: 'text_delta', text: d.content });
    }
    for (const t of d.tool_calls ?? []) {
      if (t.id || this.open?.kind !== 'tool' || this.open.toolIndex !== t.index) {
        out += this.close();
        this.index++;
        this.open = { kind: 'tool', toolIndex: t.index };
        const block = { type: 'tool_use', id: t.id ?? `toolu_${this.id}_${t.index}`, name: t.function?.name ?? '', input: {} };
        out += sseFrame('content_block_start', { type: 'content_block_start', index: this.index, content_block: block });
      }
      if (t.function?.arguments) out += this.blockDelta({ type: 'input_json_delta', partial_json: t.function.arguments });
    }
    return out;
  }

  /** Closes the open block, then message_delta (stop reason, usage) and message_stop. */
  finish(finishReason: string | null, usage: Usage): string {
    let out = this.close();
    // A stream that produced nothing still has one (empty) text block, as Anthropic's does.
    if (this.index === -1) out += this.ensure('text', { type: 'text', text: '' }) + this.close();
    out += sseFrame('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReasonFor(finishReason), stop_sequence: null },
      usage: messagesUsage(usage),
    });
    return out + sseFrame('message_stop', { type: 'message_stop' });
  }

  private ensure(kind: 'thinking' | 'text', block: object): string {
    if (this.open?.kind === kind) return '';
    const closed = this.close();
    this.index++;
    this.open = { kind };
    return closed + sseFrame('content_block_start', { type: 'content_block_start', index: this.index, content_block: block });
  }

  private blockDelta(delta: object): string {
    return sseFrame('content_block_delta', { type: 'content_block_delta', index: this.index, delta });
  }

  private close(): string {
    if (!this.open) return '';
    this.open = null;
    return sseFrame('content_block_stop', { type: 'content_block_stop', index: this.index });
  }
}
