// JetStream publish for the request hot path. Written by hand because js.publish() creates, per
// call, a request object with its own timer and an Error (with a captured stack) that it discards
// on success: about 3% of the ingress CPU at load. Here one wildcard reply subscription serves
// every publish, acks are matched through a Map, and one sweep enforces the deadlines.
import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { JetStreamApiError, type ApiError } from '@nats-io/jetstream';
import { createInbox, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { IdTable } from '../runtime/id-table.ts';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

interface Pending {
  subject: string;
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  deadline: number;
}

export class JetStreamPublisher {
  private readonly nc: NatsConnection;
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new IdTable<Pending>();
  private readonly sweep: NodeJS.Timeout;
  private readonly timeoutMs: number;
  private next = 0;
  private closed = false;

  constructor(nc: NatsConnection, timeoutMs = 5_000) {
    this.nc = nc;
    this.timeoutMs = timeoutMs;
    this.prefix = `${createInbox()}.`;
    const dec = new TextDecoder();
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (_err, msg) => {
        const id = Number(msg.subject.slice(this.prefix.length));
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        // No JetStream stream listening on the subject: the server answers 503 with no body.
        // The same error shapes js.publish() rejects with, so shared/nats/errors.ts recognises them.
        if (msg.data.length === 0 && msg.headers?.code === 503)
          return p.reject(new RequestError('JetStream is not available (no responders)', { cause: new NoRespondersError(p.subject) }));
        let body: { stream?: string; seq?: number; duplicate?: boolean; error?: ApiError };
        try {
          body = JSON.parse(dec.decode(msg.data));
        } catch {
          return p.reject(new Error('invalid JetStream publish ack'));
        }
        if (body.error) {
          const refused = new JetStreamApiError(body.error);
          refused.message = `JetStream refused the message: ${body.error.description} (${body.error.code})`;
          return p.reject(refused);
        }
        p.resolve({ stream: body.stream ?? '', seq: body.seq ?? 0, duplicate: body.duplicate === true });
      },
    });
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, p] of this.pending) {
        if (p.deadline <= now) {
          this.pending.delete(id);
          p.reject(new RequestError('timed out waiting for the JetStream publish ack', { cause: new TimeoutError() }));
        }
      }
    }, 250);
    this.sweep.unref();
  }

  /**
   * Publishes to a stream subject; `msgId` becomes Nats-Msg-Id, so a retry inside the dedupe window is
   * stored once. Without one the server keeps no id for the message (and answers no duplicate).
   */
  publish(subject: string, data: Uint8Array | string, headers: MsgHdrs, msgId?: string): Promise<PubAck> {
    // After close() no ack could be matched or timed out: refuse instead of waiting forever.
    if (this.closed) return Promise.reject(new Error('publisher closed'));
    if (msgId !== undefined) headers.set('Nats-Msg-Id', msgId);
    const id = ++this.next;
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(id, { subject, resolve, reject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}${id}`, headers });
      } catch (err) {
        this.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweep);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new Error('publisher closed'));
    this.pending.clear();
  }
}
