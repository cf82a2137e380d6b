// Hands a validated request to the workers and routes its events back. Every client surface (HTTP
// JSON, SSE, WebSocket, async, batch) goes through here, so publish headers and cancel semantics
// are defined once.
import type { Nats } from '../../shared/nats/connection.ts';
import { JetStreamPublisher } from '../../shared/nats/publisher.ts';
import { publishNotice } from '../../shared/nats/best-effort.ts';
import { subjects, type Priority } from '../../shared/nats/topology.ts';
import { encodeRequestHeaders } from '../../shared/nats/request-envelope.ts';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { errors } from '../../shared/protocol/errors.ts';
import { natsMaxPayload, requestTooLarge, HEADER_ROOM_BYTES } from '../../shared/nats/payload-limits.ts';
import { contextForRequest, injectIntoHeaders, tracing } from '../../shared/telemetry/tracing.ts';
import type { EventRouter, PendingRequest } from './event-router.ts';
import type { Route } from './routing.ts';
import { retryPublish } from '../../shared/nats/publish-retry.ts';
import { localExecution, type HeldSlot, type StoreOutcome } from '../../shared/runtime/local-execution.ts';
import type { MsgHdrs } from '@nats-io/transport-node';

export interface DispatchJob {
  requestId: string;
  principal: KeyPrincipal;
  kind: 'chat' | 'embeddings';
  route: Route;
  publicModel: string;
  stream: boolean;
  /** The client's JSON body, as received: published as is, never re-serialised. */
  body: Uint8Array | string;
  priority?: Priority;
  batchId?: string;
  /** Epoch ms when the caller stops waiting; past it a worker drops the request unrun. */
  deadline?: number;
  /** The body is an Anthropic Messages request (POST /v1/messages); default OpenAI. */
  wire?: 'openai' | 'anthropic';
  anthropicBeta?: string;
  /** Content guardrails the worker applies to the answer (shared/guardrails). */
  guardrails?: readonly string[];
}

export interface DispatchHandlers {
  /** Called for each event; return true when the request is finished (no more events wanted). */
  onEvent(ev: StreamEvent): boolean;
  onTimeout(): void;
}

export class Dispatcher {
  readonly ingressId: string;
  private readonly nats: Nats;
  private readonly router: EventRouter;
  private readonly timeoutMs: number;
  private readonly publisher: JetStreamPublisher;

  constructor(nats: Nats, router: EventRouter, ingressId: string, timeoutMs: number) {
    this.nats = nats;
    this.publisher = new JetStreamPublisher(nats.nc);
    this.router = router;
    this.ingressId = ingressId;
    this.timeoutMs = timeoutMs;
  }

  /** Registers for the events, then publishes. Throws a 503 ApiError if JetStream does not take it. */
  async submit(job: DispatchJob, handlers: DispatchHandlers): Promise<void> {
    const { requestId } = job;
    const deadline = Date.now() + this.timeoutMs;
    const entry: PendingRequest = {
      deadline,
      onTimeout: () => {
        publishNotice(this.nats.nc, subjects.cancel(requestId));
        handlers.onTimeout();
      },
      onEvent: (ev) => {
        if (handlers.onEvent(ev)) this.router.release(requestId);
      },
    };
    this.router.register(requestId, entry);
    try {
      // A run started before the store's ack (local-execution.ts): its events wait for the ack.
      const early = () => void (entry.unstored = []);
      await publishRequest(this.nats, this.ingressId, { ...job, deadline: job.deadline ?? deadline }, this.publisher, early);
    } catch (err) {
      this.router.release(requestId);
      throw err;
    }
    // Hands on what an early run produced meanwhile.
    if (entry.unstored) this.router.stored(requestId);
  }

  /** The client is gone: stop listening and tell the worker to abort the upstream call. */
  cancel(requestId: string): void {
    this.router.release(requestId);
    publishNotice(this.nats.nc, subjects.cancel(requestId));
  }

  close(): void {
    this.publisher.close();
  }

  /** Stop listening without cancelling (the request keeps running, e.g. a resumable stream). */
  release(requestId: string): void {
    this.router.release(requestId);
  }
}

/**
 * Publishes one request to JetStream (`Nats-Msg-Id` = request id, so a repeat inside the dedupe window
 * is not executed twice; not for a held request, see below); resolves false for such a repeat. Used directly by surfaces that collect events elsewhere: the batch runner
 * and async requests publish with a pseudo ingress id (EVENT_OWNERS) and read results from durable
 * consumers. Throws a 413 ApiError if the body is larger than the NATS server can carry (a bigger
 * body would only fail the publish), a 503 ApiError if JetStream does not take it.
 */
export async function publishRequest(
  nats: Nats,
  ingressId: string,
  job: Omit<DispatchJob, 'principal'> & { principal: Pick<KeyPrincipal, 'tenantId' | 'keyId'> },
  publisher?: JetStreamPublisher,
  /** Called when the request's run starts before the store is acknowledged (local-execution.ts). */
  onEarlyRun?: () => void,
): Promise<boolean> {
  // The HTTP edge already refuses such bodies (bodyLimit); this covers every other surface (WebSocket,
  // async, batch) and a reconnect to a server with a smaller max_payload.
  const maxBody = natsMaxPayload(nats.nc) - HEADER_ROOM_BYTES;
  if (byteLength(job.body) > maxBody) throw requestTooLarge(maxBody);
  const priority = job.priority ?? 'interactive';
  const h = encodeRequestHeaders({
    requestId: job.requestId,
    tenantId: job.principal.tenantId,
    keyId: job.principal.keyId,
    ingressId,
    kind: job.kind,
    provider: job.route.provider,
    model: job.route.model,
    publicModel: job.publicModel,
    stream: job.stream,
    priority,
    batchId: job.batchId ?? null,
    receivedAt: Date.now(),
    deadline: job.deadline ?? 0,
    // Fallback targets for the worker to walk (tenant controls: routing policy).
    targets: job.route.targets ?? [{ provider: job.route.provider, model: job.route.model }],
    wire: job.wire,
    anthropicBeta: job.anthropicBeta,
    ...(job.guardrails?.length ? { guardrails: [...job.guardrails] } : {}),
  });
  // The worker's spans join the ingress span's trace (W3C traceparent in the message headers).
  if (tracing.on) injectIntoHeaders(h, contextForRequest(job.requestId));
  // One-process layout: stored on a held subject and run by this process's worker (local-execution.ts).
  const held = priority === 'interactive' ? localExecution.slot(ingressId) : null;
  const subject = held ? held.subject : subjects.request(job.route.provider, priority);
  // A held request goes without a message id. This process runs it once whatever is stored, and a
  // retry's second copy is purged with its second (a rescuer re-queues copies under one id,
  // `<requestId>.r<n>`). The id would cost nats-server an entry for the whole 120 s dedupe window,
  // two thirds of its heap at max load (docs/benchmarks.md, levers row "heldnoid").
  const msgId = held ? undefined : job.requestId;
  const publish = () =>
    publisher ? publisher.publish(subject, job.body, h, msgId) : nats.js.publish(subject, job.body, { msgID: msgId, headers: h });
  // A held request runs while it is stored when the worker is nearly idle (local-execution.ts): the
  // worker learns the outcome. Otherwise it runs once the store is acknowledged.
  const settle = held && localExecution.startsEarly() ? runWhileStored(held, h, job.body, onEarlyRun) : null;
  let duplicate = false;
  try {
    duplicate = (await publish()).duplicate;
  } catch (first) {
    try {
      // A leader election in a JetStream cluster: retried with the same msg id (shared/nats/publish-retry.ts).
      // A duplicate now is most likely this publish, stored before its ack was lost: still ours to run.
      // (A held request, without an id, may then be stored twice: see msgId above.)
      await retryPublish(publish, first);
    } catch (err) {
      settle?.('refused');
      held?.release();
      // A run that had started may have reached the upstream: admission keeps its estimates.
      throw errors.unavailable(`The request could not be queued: ${(err as Error).message}`, { outcomeUnknown: settle !== null });
    }
  }
  // Held: stored, and never a duplicate (no message id). Otherwise a duplicate on the first try (the
  // same request id inside the dedupe window) runs or ran elsewhere.
  if (settle) settle('stored');
  else if (held) localExecution.run(held, h, job.body, null);
  return !duplicate;
}

/** Starts a held request's run; returns how to tell it the store's outcome, null if it did not start. */
function runWhileStored(
  held: HeldSlot,
  h: MsgHdrs,
  body: Uint8Array | string,
  onEarlyRun: (() => void) | undefined,
): ((outcome: StoreOutcome) => void) | null {
  onEarlyRun?.();
  let settle!: (outcome: StoreOutcome) => void;
  const outcome = new Promise<StoreOutcome>((resolve) => (settle = resolve));
  return localExecution.run(held, h, body, outcome) ? settle : null;
}

function byteLength(body: Uint8Array | string): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}
