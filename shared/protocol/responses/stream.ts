// Chat stream deltas -> the Responses API's typed SSE events. A pure state machine: `start()` opens
// the response, `delta()` turns one chat delta into item events (opening an item when its kind
// changes, closing the one before it), `finish()` / `fail()` close every open item and end the
// response. Every event carries its `sequence_number`; frames are `event: <type>\ndata: <json>`.
import type { ChunkDelta, DoneEvent } from '../events.ts';
import type { ErrorBody } from '../errors.ts';
import {
  itemId,
  responseObject,
  statusOf,
  type FunctionCallItem,
  type MessageItem,
  type OutputItem,
  type ReasoningItem,
  type ResponseHead,
  type ResponseObject,
} from './response-object.ts';

type OpenItem =
  | { kind: 'reasoning'; index: number; item: ReasoningItem; text: string }
  | { kind: 'message'; index: number; item: MessageItem; text: string }
  | { kind: 'call'; index: number; item: FunctionCallItem; toolIndex: number };

export class ResponseStream {
  private readonly head: ResponseHead;
  private seq = 0;
  private readonly output: OutputItem[] = [];
  private open: OpenItem | null = null;

  constructor(head: ResponseHead) {
    this.head = head;
  }

  /** response.created and response.in_progress. */
  start(): string {
    const response = this.snapshot('in_progress');
    return this.frame('response.created', { response }) + this.frame('response.in_progress', { response });
  }

  delta(delta: ChunkDelta): string {
    let out = '';
    if (delta.reasoning_content) {
      if (this.open?.kind !== 'reasoning') out += this.openReasoning();
      const open = this.open as Extract<OpenItem, { kind: 'reasoning' }>;
      open.text += delta.reasoning_content;
      out += this.frame('response.reasoning_summary_text.delta', {
        item_id: open.item.id,
        output_index: open.index,
        summary_index: 0,
        delta: delta.reasoning_content,
      });
    }
    if (delta.content) {
      if (this.open?.kind !== 'message') out += this.openMessage();
      const open = this.open as Extract<OpenItem, { kind: 'message' }>;
      open.text += delta.content;
      out += this.frame('response.output_text.delta', {
        item_id: open.item.id,
        output_index: open.index,
        content_index: 0,
        delta: delta.content,
        logprobs: [],
      });
    }
    for (const call of delta.tool_calls ?? []) {
      if (this.open?.kind !== 'call' || this.open.toolIndex !== call.index) out += this.openCall(call.index, call.id, call.function?.name);
      const open = this.open as Extract<OpenItem, { kind: 'call' }>;
      if (call.function?.name && !open.item.name) open.item.name = call.function.name;
      const args = call.function?.arguments;
      if (args) {
        open.item.arguments += args;
        out += this.frame('response.function_call_arguments.delta', { item_id: open.item.id, output_index: open.index, delta: args });
      }
    }
    return out;
  }

  /** Closes the open item and ends with response.completed or response.incomplete. */
  finish(done: Pick<DoneEvent, 'finish_reason' | 'usage'>): { frames: string; response: ResponseObject } {
    const { status, incomplete_details } = statusOf(done.finish_reason);
    const itemStatus = status === 'completed' ? 'completed' : 'incomplete';
    const frames = this.closeOpen(itemStatus);
    const response = responseObject(this.head, { status, output: this.output, usage: done.usage, incomplete_details });
    return { frames: frames + this.frame(status === 'completed' ? 'response.completed' : 'response.incomplete', { response }), response };
  }

  /** The upstream failed after the stream began: close what is open and end with response.failed. */
  fail(error: ErrorBody): string {
    const frames = this.closeOpen('incomplete');
    const response = responseObject(this.head, { status: 'failed', output: this.output, error });
    return frames + this.frame('response.failed', { response });
  }

  private snapshot(status: 'in_progress'): ResponseObject {
    return responseObject(this.head, { status, output: [] });
  }

  private openReasoning(): string {
    const out = this.closeOpen('completed');
    const item: ReasoningItem = { type: 'reasoning', id: itemId('rs'), summary: [] };
    const index = this.output.push(item) - 1;
    this.open = { kind: 'reasoning', index, item, text: '' };
    return (
      out +
      this.frame('response.output_item.added', { output_index: index, item: { ...item, summary: [] } }) +
      this.frame('response.reasoning_summary_part.added', {
        item_id: item.id,
        output_index: index,
        summary_index: 0,
        part: { type: 'summary_text', text: '' },
      })
    );
  }

  private openMessage(): string {
    const out = this.closeOpen('completed');
    const item: MessageItem = { type: 'message', id: itemId('msg'), status: 'in_progress', role: 'assistant', content: [] };
    const index = this.output.push(item) - 1;
    this.open = { kind: 'message', index, item, text: '' };
    return (
      out +
      this.frame('response.output_item.added', { output_index: index, item: { ...item, content: [] } }) +
      this.frame('response.content_part.added', {
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      })
    );
  }

  private openCall(toolIndex: number, callId: string | undefined, name: string | undefined): string {
    const out = this.closeOpen('completed');
    const item: FunctionCallItem = {
      type: 'function_call',
      id: itemId('fc'),
      // Every adapter names its calls on the first delta; a missing id still needs a stable one.
      call_id: callId ?? `call_${itemId('fc').slice(3, 27)}`,
      name: name ?? '',
      arguments: '',
      status: 'in_progress',
    };
    const index = this.output.push(item) - 1;
    this.open = { kind: 'call', index, item, toolIndex };
    return out + this.frame('response.output_item.added', { output_index: index, item: { ...item } });
  }

  private closeOpen(status: 'completed' | 'incomplete'): string {
    const open = this.open;
    if (!open) return '';
    this.open = null;
    const { index } = open;
    if (open.kind === 'reasoning') {
      const part = { type: 'summary_text' as const, text: open.text };
      open.item.summary = [part];
      return (
        this.frame('response.reasoning_summary_text.done', {
          item_id: open.item.id,
          output_index: index,
          summary_index: 0,
          text: open.text,
        }) +
        this.frame('response.reasoning_summary_part.done', { item_id: open.item.id, output_index: index, summary_index: 0, part }) +
        this.frame('response.output_item.done', { output_index: index, item: open.item })
      );
    }
    if (open.kind === 'message') {
      const part = { type: 'output_text' as const, text: open.text, annotations: [], logprobs: [] };
      open.item.content = [part];
      open.item.status = status;
      const ids = { item_id: open.item.id, output_index: index, content_index: 0 };
      return (
        this.frame('response.output_text.done', { ...ids, text: open.text, logprobs: [] }) +
        this.frame('response.content_part.done', { ...ids, part }) +
        this.frame('response.output_item.done', { output_index: index, item: open.item })
      );
    }
    open.item.status = status;
    return (
      this.frame('response.function_call_arguments.done', {
        item_id: open.item.id,
        output_index: index,
        name: open.item.name,
        arguments: open.item.arguments,
      }) + this.frame('response.output_item.done', { output_index: index, item: open.item })
    );
  }

  private frame(type: string, fields: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...fields, sequence_number: this.seq++ })}\n\n`;
  }
}
