// How big one request may be, derived from the NATS server's `max_payload`: a request is published as
// one JetStream message, so a body the server would refuse must be refused at the edge with a 413
// instead of failing the publish as a retryable 503. The servers Switchyard starts raise max_payload
// to 8 MiB (deploy/nats-limits.conf); a server left at the NATS default allows 1 MiB.
import type { NatsConnection } from '@nats-io/transport-node';
import { ApiError } from '../protocol/errors.ts';

/** Room kept for the NATS headers a request carries (ids, routing, fallback targets): a few hundred bytes in practice. */
export const HEADER_ROOM_BYTES = 64 * 1024;

/** The NATS default, assumed only before the server has sent its INFO. */
const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The connected server's max_payload (it can change on reconnect to another server). */
export function natsMaxPayload(nc: NatsConnection): number {
  return nc.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
}

/** Largest request body (chat, embeddings, one batch line, one WebSocket request) that can be queued. */
export function maxRequestBodyBytes(nc: NatsConnection): number {
  return natsMaxPayload(nc) - HEADER_ROOM_BYTES;
}

export function requestTooLarge(limitBytes: number): ApiError {
  return new ApiError(413, `Request body too large: at most ${limitBytes} bytes are accepted.`, {
    param: null,
    code: 'request_too_large',
  });
}
