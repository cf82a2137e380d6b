// Worker events -> the Anthropic Messages SSE of one request, live (routes/messages.ts) or replayed
// (GET /v1/requests/{id}/events). An Anthropic upstream's frames are relayed as they came; any other
// provider's chat deltas go through MessagesStreamWriter. The last frame of each event carries
// `id: <seq>`, so a cut stream resumes with Last-Event-ID like a chat completions stream.
import { anthropicError } from '../../shared/protocol/anthropic-messages/errors.ts';
import { MessagesStreamWriter, sseFrame } from '../../shared/protocol/anthropic-messages/from-chat.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

export class MessagesEventRenderer {
  private readonly writer: MessagesStreamWriter;
  private started = false;
  private native = false;

  constructor(messageId: string, publicModel: string) {
    this.writer = new MessagesStreamWriter(messageId, publicModel);
  }

  /**
   * The frames of one event. Every chunk must pass through, in order, to keep the block indexes
   * right; those with seq <= `afterSeq` (already delivered before a resume) render to ''.
   */
  render(ev: StreamEvent, afterSeq = 0): string {
    if (ev.type === 'error') return sseFrame('error', anthropicError(ev.status, ev.error).body);
    if (ev.type !== 'chunk' && ev.type !== 'done') return '';
    let out = '';
    if (!this.started) {
      this.started = true;
      this.native = ev.type === 'chunk' && ev.native !== undefined;
      // An Anthropic upstream sends its own message_start; every other answer gets ours.
      if (!this.native) out += this.writer.start();
    }
    if (ev.type === 'chunk') out += ev.native ?? this.writer.delta(ev.delta);
    // A relayed Anthropic stream already ended with its own message_stop.
    else if (!this.native) out += this.writer.finish(ev.finish_reason, ev.usage);
    return ev.seq > afterSeq ? withEventId(out, ev.seq) : '';
  }
}

/** `id: <seq>` on the last frame: the client's Last-Event-ID then means "everything up to here". */
function withEventId(frames: string, seq: number): string {
  if (frames === '') return '';
  const previousEnd = frames.lastIndexOf('\n\n', frames.length - 3);
  const lastStart = previousEnd === -1 ? 0 : previousEnd + 2;
  return `${frames.slice(0, lastStart)}id: ${seq}\n${frames.slice(lastStart)}`;
}
