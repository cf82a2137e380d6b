// One wildcard subscription per ingress (`llm.evt.<ingressId>.>`), demultiplexed by request id into
// the handler of the HTTP request waiting for it. No subscription or timer is created per request:
// deadlines are enforced by one sweep.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { subjects } from '../../shared/nats/topology.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';

export interface PendingRequest {
  onEvent(ev: StreamEvent): void;
  onTimeout(): void;
  deadline: number;
}

export class EventRouter {
  private readonly pending = new Map<string, PendingRequest>();
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  private readonly prefixLength: number;

  constructor(nc: NatsConnection, ingressId: string) {
    this.prefixLength = subjects.eventsInbox(ingressId).length - 1;
    const dec = new TextDecoder();
    this.sub = nc.subscribe(subjects.eventsInbox(ingressId), {
      callback: (_err, msg) => {
        const entry = this.pending.get(msg.subject.slice(this.prefixLength));
        if (!entry) return; // client gone, or a late event of a finished request
        let ev: StreamEvent;
        try {
          ev = JSON.parse(dec.decode(msg.data)) as StreamEvent;
        } catch {
          return;
        }
        entry.onEvent(ev);
      },
    });
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, p] of this.pending) {
        if (p.deadline <= now) {
          this.pending.delete(id);
          p.onTimeout();
        }
      }
    }, 1_000);
    this.sweep.unref();
  }

  register(requestId: string, p: PendingRequest): void {
    this.pending.set(requestId, p);
  }

  release(requestId: string): void {
    this.pending.delete(requestId);
  }

  get size(): number {
    return this.pending.size;
  }

  close(): void {
    clearInterval(this.sweep);
    this.sub.unsubscribe();
  }
}
