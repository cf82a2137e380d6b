// Requests a worker must not simply run: a redelivery whose earlier worker died holding it, and a
// request nobody waits for any more (cancelled, or its interactive caller's deadline passed).
import { errors, type ApiError } from '../../shared/protocol/errors.ts';
import { EMPTY_USAGE, type EventBody, type StreamEvent, type Usage } from '../../shared/protocol/events.ts';
import type { RecordUsage } from './usage-recorder.ts';

export interface CrashRecoveryDeps {
  /** The last event published for the request, or null when none reached LLM_EVENTS. */
  lastEvent(): Promise<StreamEvent | null>;
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
 * over. Nothing sent yet: run it again, invisibly (returns false).
 */
export async function resumeAfterCrash(stream: boolean, deps: CrashRecoveryDeps): Promise<boolean> {
  let last: StreamEvent | null;
  try {
    last = await deps.lastEvent();
  } catch {
    last = null; // no events for this request: nothing reached anyone yet
  }
  if (!last) return false;
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
  deps.emit(errorEvent(errors.streamInterrupted()));
  await deps.record({ ...EMPTY_USAGE }, 'error', { error_code: 'stream_interrupted' });
  await deps.ack();
  return true;
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
