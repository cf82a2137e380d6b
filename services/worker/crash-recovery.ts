// Requests a worker must not simply run: a redelivery whose earlier worker died holding it, and a
// request nobody waits for any more (cancelled, or its interactive caller's deadline passed).
import { errors, type ApiError } from '../../shared/protocol/errors.ts';
import { EMPTY_USAGE, type EventBody, type StreamEvent, type Usage } from '../../shared/protocol/events.ts';
import type { RecordUsage } from './usage-recorder.ts';

export interface CrashRecoveryDeps {
  /** The last event published for the request, or null when none reached LLM_EVENTS; throws when it cannot be read. */
  lastEvent(): Promise<StreamEvent | null>;
  /** Keeps the redelivery from being redelivered again while a failed read-back is retried (msg.working()). */
  working?(): void;
  emit(ev: EventBody): void;
  /**
   * Publishes a stored final event again exactly as it was (same attempt and seq). Its live delivery
   * may have died with the NATS node the earlier worker published through, while the copy reached
   * LLM_EVENTS: an ingress that did not reconnect has no replay to find it and would wait for its
   * timeout (seen in cluster.test.ts). An ingress that did get it drops the repeat (the request is
   * released), and in a cluster the same msg id keeps it out of LLM_EVENTS a second time.
   */
  resend(ev: StreamEvent): void;
  record: RecordUsage;
  /** Acks the redelivery (in a cluster once the events published again are stored). */
  ack(): Promise<void> | void;
}

/**
 * A redelivered request: a previous worker died holding it. What that worker already did is in
 * LLM_EVENTS. Finished: the final event may not have reached the ingress and the usage record may
 * be missing, so publish both again (the ingress and the ledger drop repeats). Partly streamed: the
 * client has seen tokens we cannot take back, so end the stream with an error instead of starting
 * over; the same when what was sent cannot be read back. Nothing sent yet: run it again, invisibly
 * (returns false).
 */
export async function resumeAfterCrash(stream: boolean, deps: CrashRecoveryDeps, retry = READ_BACK_RETRY): Promise<boolean> {
  const last = await readBack(deps, retry);
  if (last === undefined) {
    // Not known whether the earlier delivery sent anything. A non-streaming answer is produced again
    // (the ingress takes the first final event, the ledger the first record). A stream may have sent
    // tokens: running it again would leave its client waiting on an attempt that may not speak.
    if (!stream) return false;
    return interrupt(deps);
  }
  if (!last) return false; // no events for this request: nothing reached anyone yet
  if (last.type === 'done' || last.type === 'result') {
    deps.resend(last);
    await deps.record(last.usage as Usage, 'ok');
    await deps.ack();
    return true;
  }
  if (last.type === 'error') {
    deps.resend(last);
    await deps.record({ ...EMPTY_USAGE }, 'error', { error_code: last.error.code ?? last.error.type });
    await deps.ack();
    return true;
  }
  if (!stream) return false;
  return interrupt(deps);
}

/** Partly streamed (or possibly so): end the stream with an error instead of repeating tokens. */
async function interrupt(deps: CrashRecoveryDeps): Promise<true> {
  deps.emit(errorEvent(errors.streamInterrupted()));
  await deps.record({ ...EMPTY_USAGE }, 'error', { error_code: 'stream_interrupted' });
  await deps.ack();
  return true;
}

/**
 * The read-back fails while LLM_EVENTS elects a leader (a NATS node died with the worker): taking a
 * failed read as "nothing stored" ran a half-sent stream again, and the ingress, locked on the first
 * attempt, dropped the whole run (cluster.test.ts: a stream stalled until its client gave up).
 */
export const READ_BACK_RETRY = { tries: 6, pauseMs: 500 };

/** The newest stored event, null when none is stored, undefined when it could not be read. */
async function readBack(deps: CrashRecoveryDeps, retry: typeof READ_BACK_RETRY): Promise<StreamEvent | null | undefined> {
  for (let i = 1; i <= retry.tries; i++) {
    deps.working?.();
    try {
      return await deps.lastEvent();
    } catch {
      if (i < retry.tries) await new Promise((r) => setTimeout(r, retry.pauseMs));
    }
  }
  return undefined;
}

/** Why a request must not run (cancel heard, or its interactive caller's deadline passed), or null. */
export function unwantedReason(cancelled: boolean, deadline: number, now = Date.now()): { code: string; event: EventBody } | null {
  if (cancelled) return { code: 'cancelled', event: errorEvent(errors.cancelled()) };
  if (deadline && now > deadline) return { code: 'deadline_exceeded', event: errorEvent(errors.deadlineExceeded()) };
  return null;
}

/** The `error` event for a catalog error the worker raises itself. */
export function errorEvent(error: ApiError): EventBody {
  return { type: 'error', status: error.status, error: error.toBody().error };
}
