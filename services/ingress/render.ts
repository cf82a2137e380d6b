// Normalized events -> the exact OpenAI wire shapes a client SDK expects.
import type { ChatResultEvent, ChunkDelta, EmbeddingsResultEvent, Usage } from '../../shared/protocol/events.ts';

export function chatCompletionBody(id: string, created: number, publicModel: string, ev: ChatResultEvent) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: publicModel,
    choices: [{ index: 0, message: ev.message, logprobs: null, finish_reason: ev.finish_reason ?? 'stop' }],
    usage: ev.usage,
    system_fingerprint: null,
  };
}

export function embeddingsBody(publicModel: string, ev: EmbeddingsResultEvent) {
  return { object: 'list' as const, data: ev.data, model: publicModel, usage: ev.usage };
}

/** Builds `data: {...}\n\n` frames; the fixed head of every chunk is serialised once per stream. */
export class ChunkWriter {
  private readonly head: string;
  private readonly includeUsage: boolean;
  constructor(id: string, created: number, publicModel: string, includeUsage: boolean) {
    this.includeUsage = includeUsage;
    this.head = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(publicModel)},"system_fingerprint":null,`;
  }

  delta(delta: ChunkDelta, eventId?: string): string {
    const usage = this.includeUsage ? ',"usage":null' : '';
    return `${eventId ? `id: ${eventId}\n` : ''}${this.head}"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":null}]${usage}}\n\n`;
  }

  finish(finishReason: string, eventId?: string): string {
    const usage = this.includeUsage ? ',"usage":null' : '';
    return `${eventId ? `id: ${eventId}\n` : ''}${this.head}"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":${JSON.stringify(finishReason)}}]${usage}}\n\n`;
  }

  usage(usage: Usage, eventId?: string): string {
    return `${eventId ? `id: ${eventId}\n` : ''}${this.head}"choices":[],"usage":${JSON.stringify(usage)}}\n\n`;
  }
}

export function sseError(error: unknown): string {
  return `event: error\ndata: ${JSON.stringify(error)}\n\n`;
}

export const SSE_DONE = 'data: [DONE]\n\n';

/** Response headers of every SSE stream Switchyard serves. */
export function sseHeaders(requestId: string): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': requestId,
    'x-accel-buffering': 'no',
  };
}
