// Core NATS notices that may be lost (cancel, resumed) are sent from timers and socket `close`
// callbacks, where a throw is an uncaught exception. During shutdown the connection is already
// draining or closed: the notice is dropped then, since no worker would hear it from this process.
import type { NatsConnection } from '@nats-io/transport-node';

/** Publishes unless the connection is closing; returns whether it was sent. */
export function publishNotice(nc: NatsConnection, subject: string, data?: string): boolean {
  if (nc.isClosed() || nc.isDraining()) return false;
  nc.publish(subject, data);
  return true;
}
