// The Responses API `response` object, its output items and usage, built from the chat path's
// normalized answer (shared/protocol/events.ts). Shapes follow the openai SDK's types
// (resources/responses/responses.d.ts: Response, ResponseOutputItem, ResponseUsage).
import { randomBytes } from 'node:crypto';
import type { AssistantMessage, Usage } from '../events.ts';
import type { ErrorBody } from '../errors.ts';
import type { FunctionTool, ParsedResponsesRequest, ResponsesRequest } from './request.ts';

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
  logprobs: never[];
}
export interface MessageItem {
  type: 'message';
  id: string;
  status: 'in_progress' | 'completed' | 'incomplete';
  role: 'assistant';
  content: OutputText[];
}
export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: 'in_progress' | 'completed' | 'incomplete';
}
export interface ReasoningItem {
  type: 'reasoning';
  id: string;
  summary: Array<{ type: 'summary_text'; text: string }>;
}
export type OutputItem = MessageItem | FunctionCallItem | ReasoningItem;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** Item ids in OpenAI's style: a kind prefix and 48 hex digits (`msg_…`, `fc_…`, `rs_…`). */
export function itemId(prefix: 'msg' | 'fc' | 'rs'): string {
  return `${prefix}_${randomBytes(24).toString('hex')}`;
}

export function responseUsage(u: Usage): ResponseUsage {
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: u.total_tokens,
  };
}

/** A chat finish reason as the response's status: a cut-off answer is `incomplete`, with the reason. */
export function statusOf(finishReason: string | null): { status: ResponseStatus; incomplete_details: { reason: string } | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** The output items of a whole assistant answer, in OpenAI's order: reasoning, message, calls. */
export function outputItems(message: AssistantMessage, itemStatus: 'completed' | 'incomplete' = 'completed'): OutputItem[] {
  const out: OutputItem[] = [];
  if (message.reasoning_content) {
    out.push({ type: 'reasoning', id: itemId('rs'), summary: [{ type: 'summary_text', text: message.reasoning_content }] });
  }
  if (message.content) {
    out.push({
      type: 'message',
      id: itemId('msg'),
      status: itemStatus,
      role: 'assistant',
      content: [{ type: 'output_text', text: message.content, annotations: [], logprobs: [] }],
    });
  }
  for (const call of message.tool_calls ?? []) {
    out.push({
      type: 'function_call',
      id: itemId('fc'),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: itemStatus,
    });
  }
  return out;
}

/** What a response echoes of its request (the same in every event of a stream and in GET). */
export interface ResponseHead {
  id: string;
  created_at: number;
  model: string;
  request: ParsedResponsesRequest;
}

export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  completed_at: number | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: string } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: string | null };
  store: boolean;
  temperature: number | null;
  text: { format: NonNullable<ResponsesRequest['text']>['format'] | { type: 'text' } };
  tool_choice: unknown;
  tools: Array<FunctionTool & { strict: boolean | null; description: string | null; parameters: Record<string, unknown> | null }>;
  top_p: number | null;
  truncation: 'disabled';
  usage: ResponseUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

export function responseObject(
  head: ResponseHead,
  state: {
    status: ResponseStatus;
    output: OutputItem[];
    usage?: Usage;
    incomplete_details?: { reason: string } | null;
    error?: ErrorBody | null;
  },
): ResponseObject {
  const r = head.request;
  const finished = state.status !== 'in_progress';
  return {
    id: head.id,
    object: 'response',
    created_at: head.created_at,
    status: state.status,
    completed_at: state.status === 'completed' ? Math.floor(Date.now() / 1000) : null,
    error: state.error ? { code: state.error.code ?? state.error.type, message: state.error.message } : null,
    incomplete_details: state.incomplete_details ?? null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    model: head.model,
    output: state.output,
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    reasoning: { effort: r.reasoning?.effort ?? null, summary: r.reasoning?.summary ?? null },
    store: r.store !== false,
    temperature: r.temperature ?? null,
    text: { format: r.text?.format ?? { type: 'text' } },
    tool_choice: r.tool_choice ?? 'auto',
    tools: (r.tools ?? []).map((t) => ({
      ...t,
      description: t.description ?? null,
      parameters: t.parameters ?? null,
      strict: t.strict ?? null,
    })),
    top_p: r.top_p ?? null,
    truncation: 'disabled',
    usage: finished && state.usage ? responseUsage(state.usage) : null,
    user: r.user ?? null,
    metadata: r.metadata ?? {},
  };
}

/**
 * The assistant turn a response adds to its conversation (what `previous_response_id` replays).
 * Reasoning is not replayed: chat upstreams take none back (see inputToMessages).
 */
export function assistantTurn(output: OutputItem[]): AssistantMessage | null {
  let content = '';
  const calls: NonNullable<AssistantMessage['tool_calls']> = [];
  for (const item of output) {
    if (item.type === 'message') content += item.content.map((c) => c.text).join('');
    else if (item.type === 'function_call')
      calls.push({ id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } });
  }
  if (!content && !calls.length) return null;
  const turn: AssistantMessage = { role: 'assistant', content: content || null };
  if (calls.length) turn.tool_calls = calls;
  return turn;
}
