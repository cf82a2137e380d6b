// Only one attempt of a request may speak to a streaming client: once an attempt's tokens are out, a
// redelivered attempt (its worker died holding the request) cannot take them back. The redelivered
// worker normally sees the stored chunks and ends the stream with stream_interrupted itself
// (services/worker/crash-recovery.ts). It cannot when the chunks never reached LLM_EVENTS (published
// live while the stream had no leader) or when reading them back keeps failing; it then runs the
// request again, and the client must not wait on that run forever: its final event ends the stream
// with stream_interrupted (seen in cluster.test.ts: tokens, then silence until the client gave up).
import { errors } from '../../shared/protocol/errors.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

export class AttemptLock {
  private speaking = 0;

  /** The attempt whose tokens went out, 0 before the first chunk. */
  get locked(): number {
    return this.speaking;
  }

  /**
   * What to hand to the client for `ev`: the event itself, null to drop it (a chunk of another
   * attempt), or a stream_interrupted error in place of another attempt's final event. An error of
   * any attempt passes: it ends the stream honestly whichever attempt raised it.
   */
  admit(ev: StreamEvent): StreamEvent | null {
    if (ev.type === 'error') return ev;
    if (!this.speaking) {
      if (ev.type === 'chunk') this.speaking = ev.attempt;
      return ev;
    }
    if (ev.attempt === this.speaking) return ev;
    if (ev.type === 'chunk') return null;
    const error = errors.streamInterrupted();
    return { type: 'error', seq: ev.seq, attempt: ev.attempt, status: error.status, error: error.toBody().error };
  }
}
