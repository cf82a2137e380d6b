// Normalized events -> the exact OpenAI wire shapes a client SDK expects.
import type { ChatResultEvent, ChunkDelta, EmbeddingsResultEvent, ResponseMeta, StreamEvent, Usage } from '../../shared/protocol/events.ts';
import { ApiError } from '../../shared/protocol/errors.ts';

export function chatCompletionBody(id: string, created: number, publicModel: string, ev: ChatResultEvent) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: publicModel,
    // OpenAI always sends `refusal` (null when the model answered).
    choices: [
      {
        index: 0,
        message: { ...ev.message, refusal: ev.message.refusal ?? null },
        logprobs: ev.meta?.logprobs ?? null,
        finish_reason: ev.finish_reason ?? 'stop',
      },
      ...(ev.meta?.more_choices ?? []).map((c, i) => ({
        index: i + 1,
        message: { ...c.message, refusal: c.message.refusal ?? null },
        logprobs: c.logprobs ?? null,
        finish_reason: c.finish_reason ?? 'stop',
      })),
    ],
    usage: ev.usage,
    ...(ev.meta?.service_tier ? { service_tier: ev.meta.service_tier } : {}),
    system_fingerprint: ev.meta?.system_fingerprint ?? null,
  };
}

export function embeddingsBody(publicModel: string, ev: EmbeddingsResultEvent) {
  return { object: 'list' as const, data: ev.data, model: publicModel, usage: ev.usage };
}

/** Builds `data: {...}\n\n` frames; the fixed head of every chunk is serialised once per stream. */
export class ChunkWriter {
  private head: string;
  private readonly includeUsage: boolean;
  constructor(id: string, created: number, publicModel: string, includeUsage: boolean) {
    this.includeUsage = includeUsage;
    this.head = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(publicModel)},"system_fingerprint":null,`;
  }

  delta(delta: ChunkDelta, eventId?: string): string {
    const usage = this.includeUsage ? ',"usage":null' : '';
    // A chunk's logprobs and the upstream's fingerprint and tier travel inside the internal delta
    // (./shared/protocol/events.ts); OpenAI puts logprobs beside the delta and the others in every chunk's head.
    let logprobs = 'null';
    if (delta.logprobs || delta.meta) {
      if (delta.logprobs) logprobs = JSON.stringify(delta.logprobs);
      if (delta.meta) this.adoptMeta(delta.meta);
      delta = { ...delta };
      delete delta.logprobs;
      delete delta.meta;
    }
    return `${eventId ? `id: ${eventId}\n` : ''}${this.head}"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":${logprobs},"finish_reason":null}]${usage}}\n\n`;
  }

  /** From the chunk that carries them on, every chunk names the upstream's fingerprint and tier. */
  private adoptMeta(meta: ResponseMeta): void {
    const fingerprint = `"system_fingerprint":${JSON.stringify(meta.system_fingerprint ?? null)},`;
    const tier = meta.service_tier ? `"service_tier":${JSON.stringify(meta.service_tier)},` : '';
    this.head = this.head.replace(/"system_fingerprint":null,$/, tier + fingerprint);
  }

  finish(finishReason: string, eventId?: string): string {
    const usage = this.includeUsage ? ',"usage":null' : '';
    return `${eventId ? `id: ${eventId}\n` : ''}${this.head}"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":${JSON.stringify(finishReason)}}]${usage}}\n\n`;
  }

  usage(usage: Usage, eventId?: string): string {
    return `${eventId ? `id: ${eventId}\n` : ''}${this.head}"choices":[],"usage":${JSON.stringify(usage)}}\n\n`;
  }
}

/** An error event; `eventId` (the worker event's seq) lets a client resume after it. */
export function sseError(error: unknown, eventId?: string): string {
  return `${eventId ? `id: ${eventId}\n` : ''}event: error\ndata: ${JSON.stringify(error)}\n\n`;
}

export type ChatCompletionBody = ReturnType<typeof chatCompletionBody>;

/**
 * One worker event as the SSE frames of a chat stream, live or replayed. Every frame after the
 * opening role chunk has an `id:`: a chunk its seq, the finish chunk the `done` event's seq N, the
 * usage chunk N + 1 (nothing follows `done`, so that id is free). Frames with ids <= `afterSeq` (the
 * client's Last-Event-ID) were delivered before and are left out; `[DONE]` always ends the stream,
 * so a client resuming after the last frame gets just `[DONE]` at once.
 */
export function renderEvent(writer: ChunkWriter, ev: StreamEvent, includeUsage: boolean, afterSeq = 0): string {
  if (ev.type === 'chunk') {
    if (ev.seq <= afterSeq) return '';
    // A content guardrail ends a stream with `finish_reason: content_filter` (then an error event).
    return ev.finish_reason ? writer.finish(ev.finish_reason, String(ev.seq)) : writer.delta(ev.delta, String(ev.seq));
  }
  if (ev.type === 'done') {
    const finish = ev.seq > afterSeq ? writer.finish(ev.finish_reason ?? 'stop', String(ev.seq)) : '';
    const usage = includeUsage && ev.seq + 1 > afterSeq ? writer.usage(ev.usage, String(ev.seq + 1)) : '';
    return finish + usage + SSE_DONE;
  }
  if (ev.type === 'result' && ev.kind === 'chat') {
    return renderCompletion(writer, chatCompletionBody('', 0, '', ev), ev.seq, afterSeq);
  }
  if (ev.type === 'error') {
    if (ev.seq > 0 && ev.seq <= afterSeq) return SSE_DONE; // the error went out before; nothing follows it
    return sseError({ error: ev.error }, ev.seq > 0 ? String(ev.seq) : undefined);
  }
  return sseError(new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' }).toBody());
}

/** A whole answer as one delta chunk (id `seq`), the finish chunk (id `seq + 1`) and [DONE]. */
export function renderCompletion(writer: ChunkWriter, body: ChatCompletionBody, seq: number, afterSeq: number): string {
  const choice = body.choices[0]!;
  const m = choice.message;
  const delta: ChunkDelta = {};
  if (m.content !== null && m.content !== undefined) delta.content = m.content;
  if (m.reasoning_content) delta.reasoning_content = m.reasoning_content;
  if (m.refusal) delta.refusal = m.refusal;
  if (choice.logprobs) delta.logprobs = choice.logprobs;
  if (m.tool_calls) delta.tool_calls = m.tool_calls.map((t, index) => ({ index, ...t }));
  const head = seq > afterSeq ? writer.delta(delta, String(seq)) : '';
  const finish = seq + 1 > afterSeq ? writer.finish(choice.finish_reason ?? 'stop', String(seq + 1)) : '';
  return head + finish + SSE_DONE;
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
