// Recognises NATS and JetStream failures by the typed errors nats.js v3 throws, never by message
// text (server descriptions change between releases; err_codes are a stable API). The codes are
// nats-server's JetStream API error codes (server/errors.json).
import { JetStreamApiError } from '@nats-io/jetstream';
import { ClosedConnectionError, DrainingConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';

export const JsErrCode = {
  ConsumerNameInUse: 10013,
  ConsumerNotFound: 10014,
  NoMessageFound: 10037,
  StreamNameInUse: 10058,
  StreamNotFound: 10059,
  StreamWrongLastSequence: 10071,
  ConsumerExistingActive: 10105,
  ConsumerAlreadyExists: 10148,
  StreamWrongLastSequenceUnknown: 10164,
} as const;

function jsCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

export function isStreamNotFound(err: unknown): boolean {
  return jsCode(err) === JsErrCode.StreamNotFound;
}

export function isConsumerNotFound(err: unknown): boolean {
  return jsCode(err) === JsErrCode.ConsumerNotFound;
}

/** Another process created the stream or consumer first (possibly with other settings). */
export function isAlreadyExists(err: unknown): boolean {
  const code = jsCode(err);
  return (
    code === JsErrCode.StreamNameInUse ||
    code === JsErrCode.ConsumerNameInUse ||
    code === JsErrCode.ConsumerAlreadyExists ||
    code === JsErrCode.ConsumerExistingActive
  );
}

/** An optimistic-concurrency write (KV create/update, expected last sequence) lost the race. */
export function isWrongLastSequence(err: unknown): boolean {
  const code = jsCode(err);
  return code === JsErrCode.StreamWrongLastSequence || code === JsErrCode.StreamWrongLastSequenceUnknown;
}

/** Nobody subscribes to the subject; for JetStream: no stream captures it, or JetStream is off. */
export function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError) return true;
  if (err instanceof RequestError) return err.isNoResponders();
  return false;
}

export function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError);
}

/** The connection is closed or draining: nothing more can be sent on it. */
export function isConnectionClosed(err: unknown): boolean {
  return err instanceof ClosedConnectionError || err instanceof DrainingConnectionError;
}
