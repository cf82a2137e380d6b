// A held request (shared/runtime/local-execution.ts) handed to this process's worker without
// nats-server delivering it: the handler sees a first delivery, and acking or terminating it ends the
// request. A handler that does neither leaves the request for a redelivery; locally that is a
// re-queue on the worker subjects (requeueRequest), since no consumer will ever redeliver the held copy.
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { H, subjects } from '../../shared/nats/topology.ts';
import { decodeRequestEnvelope } from '../../shared/nats/request-envelope.ts';
import { retryPublish } from '../../shared/nats/publish-retry.ts';

const enc = new TextEncoder();

/** The part of JsMsg the worker's handler uses; `settled` says whether it acked or terminated. */
export interface LocalDelivery {
  readonly msg: JsMsg;
  readonly settled: boolean;
}

export function localDelivery(headers: MsgHdrs, body: Uint8Array | string, subject: string): LocalDelivery {
  let settled = false;
  const settle = () => {
    settled = true;
  };
  const msg = {
    headers,
    data: typeof body === 'string' ? enc.encode(body) : body,
    subject,
    seq: 0,
    redelivered: false,
    info: { deliveryCount: 1, timestampNanos: Date.now() * 1e6 },
    ack: settle,
    term: settle,
    // No ack wait to extend, and nothing to hand back: the caller re-queues an unsettled request.
    working: () => {},
    nak: () => {},
  } as unknown as JsMsg;
  return {
    msg,
    get settled() {
      return settled;
    },
  };
}

/** Deliveries a request had before this message (H.priorDeliveries); 0 for a first publish. */
export function priorDeliveries(headers: MsgHdrs | undefined): number {
  const n = Number(headers?.get(H.priorDeliveries) || 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * Publishes a request again on its provider's interactive worker subject, as the redelivery that
 * follows `deliveries` deliveries (so the worker's crash-recovery path runs, as after a crash). The
 * message id differs from the original's (`<id>.r<n>`), or the dedupe window would drop it.
 */
export async function requeueRequest(js: JetStreamClient, headers: MsgHdrs, data: Uint8Array, deliveries: number): Promise<void> {
  const envelope = decodeRequestEnvelope(headers);
  if (!envelope) throw new Error('held request without an envelope');
  const h = natsHeaders();
  for (const key of headers.keys()) {
    if (key === 'Nats-Msg-Id' || key === H.priorDeliveries) continue;
    for (const value of headers.values(key)) h.append(key, value);
  }
  h.set(H.priorDeliveries, String(deliveries));
  const subject = subjects.request(envelope.provider, 'interactive');
  const publish = () => js.publish(subject, data, { msgID: `${envelope.requestId}.r${deliveries}`, headers: h });
  await publish().catch((first: unknown) => retryPublish(publish, first));
}
