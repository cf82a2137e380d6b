// Whether this process should be sent new work: not while it drains after SIGTERM, and not while
// its NATS connection is down (it could accept a request but never publish it). One per process,
// made by boot() and read by /readyz of the ingress and the health port of the other services.
import type { NatsConnection } from '@nats-io/transport-node';

export class Readiness {
  /** Set at SIGTERM, never cleared: the process is on its way out. */
  draining = false;
  private natsConnected = true;
  private readonly nc: NatsConnection;

  constructor(nc: NatsConnection) {
    this.nc = nc;
    void this.watch();
  }

  get nats(): boolean {
    return this.natsConnected && !this.nc.isClosed() && !this.nc.isDraining();
  }

  get ready(): boolean {
    return !this.draining && this.nats;
  }

  private async watch(): Promise<void> {
    // The status iterator ends when the connection closes.
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnecting') this.natsConnected = false;
      else if (s.type === 'reconnect') this.natsConnected = true;
    }
  }
}
