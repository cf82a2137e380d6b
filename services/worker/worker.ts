// Pulls normalized requests from JetStream per provider, calls the upstream through the provider
// adapter, publishes events back to the ingress that owns the request, publishes one usage record,
// and only then acks. A worker that dies holding a request leaves it to be redelivered.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Nats } from '../../shared/nats/connection.ts';
import {
  asyncSubjects,
  consumeOptions,
  consumerNames,
  EVENT_OWNERS,
  STREAMS,
  subjects,
  type EventOwner,
  type Priority,
} from '../../shared/nats/topology.ts';
import { decodeRequestEnvelope, type RequestEnvelope } from '../../shared/nats/request-envelope.ts';
import { lastStoredEvent } from '../../shared/nats/last-event.ts';
import type { SwitchyardConfig, ProviderName } from '../../shared/config/env.ts';
import type { ChatCompletionRequest, EmbeddingsRequest } from '../../shared/protocol/openai.ts';
import { EMPTY_USAGE, type EventBody, type StreamEvent } from '../../shared/protocol/events.ts';
import { errors } from '../../shared/protocol/errors.ts';
import type { RouteTarget } from '../../shared/protocol/targets.ts';
import { AdapterError } from '../../shared/providers/types.ts';
import { getAdapter } from '../../shared/providers/registry.ts';
import { PriceBook } from '../../shared/config/prices.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { registerUpstreamSecrets } from '../../shared/telemetry/secrets.ts';
import { ImageFetcher, imagePolicyFromConfig } from '../../shared/providers/common/remote-images.ts';
import { startBatchPump } from './batch-pump.ts';
import { upstreamBodyLimits } from './upstream.ts';
import { HEADER_ROOM_BYTES, natsMaxPayload } from '../../shared/nats/payload-limits.ts';
import { CancelledRequests } from './cancelled-requests.ts';
import { UsagePublisher, type UsageStore } from './usage-publisher.ts';
import { UsageRecorder, type UsageFacts } from './usage-recorder.ts';
import { errorEvent, resumeAfterCrash, unwantedReason } from './crash-recovery.ts';
import { AttemptRunner, type RequestProgress } from './attempts.ts';
import { toFailure } from './failures.ts';
import { runChat, runEmbeddings, runStream, type ExecutionDeps, type ExecutionOutcome, type PartialUsageError } from './execute.ts';
import { runMessages } from './execute-messages.ts';
import type { MessagesRequest } from '../../shared/protocol/anthropic-messages/request.ts';
// ---- routing policy: fallbacks, breakers, upstream keys, metrics (docs/guardrails.md) ----
import { priceBookFromConfig } from '../../shared/config/file.ts';
import { estimatePromptTokens, maxOutputTokens } from '../../shared/limits/estimate.ts';
import { registerQueueDepth, serveMetrics } from '../../shared/telemetry/metrics.ts';
import { targetLabels } from '../../shared/telemetry/target-labels.ts';
import { Breakers } from './breaker.ts';
import { UpstreamKeys } from './upstream-keys.ts';
import { walkTargets } from './fallback.ts';
import { providerNotConfigured } from '../../shared/config/providers.ts';
// ---- tracing (docs/observability.md): one boolean check per request when off ----
import { tracing } from '../../shared/telemetry/tracing.ts';
import { traceDelivery, traceEvent } from './attempt-tracing.ts';
import type { ConfigReload } from '../../shared/runtime/config-reload.ts';
import { FinalEvents } from './final-events.ts';
import { localAnswers } from '../../shared/runtime/local-answers.ts';
import { LocalStream } from './local-stream.ts';
import type { LocalExecutor } from '../../shared/runtime/local-execution.ts';
import { localDelivery, priorDeliveries, requeueRequest } from './local-delivery.ts';
// ---- content guardrails: during_call and post_call (output-guard.ts) ----
import { GuardrailRegistry } from '../../shared/guardrails/registry.ts';
import { OutputGuard } from './output-guard.ts';
import { IdTable } from '../../shared/runtime/id-table.ts';

export interface WorkerOptions {
  config: SwitchyardConfig;
  nats: Nats;
  log: Logger;
  /** Providers this process serves; default: every provider with an adapter. */
  providers?: string[];
  prices?: PriceBook;
  /** SIGHUP: the worker's prices follow the reloaded config file. */
  reload?: ConfigReload;
  /** The ledger of this process (services/all): usage rows inserted directly, not through LLM_USAGE. */
  usageStore?: UsageStore;
}

export interface Worker {
  close(): Promise<void>;
  readonly inflight: number;
  /** Content guardrail definitions; `guardrails.replace(fileConfig)` swaps them on a config reload. */
  readonly guardrails: GuardrailRegistry;
  /** Runs the held requests of an ingress in this process (services/all: shared/runtime/local-execution.ts). */
  readonly local: LocalExecutor;
}

interface Job extends RequestProgress {
  msg: JsMsg;
  startedAt: number;
}

const dec = new TextDecoder();

export async function startWorker(opts: WorkerOptions): Promise<Worker> {
  const { config, nats, log } = opts;
  const { nc, js } = nats;
  const prices = opts.prices ?? (config.file ? priceBookFromConfig(config.file) : new PriceBook());
  const stopReloading = opts.reload?.register({
    name: 'worker prices',
    prepare: (next) => {
      const book = priceBookFromConfig(next);
      return () => prices.replaceWith(book);
    },
  });
  registerUpstreamSecrets(config);
  // Tenant image URLs (Gemini/Ollama inline them) are fetched through address checks and per-request caps.
  const images = new ImageFetcher(imagePolicyFromConfig(config.file?.images));
  // ---- routing policy state, per worker process ----
  const keys = new UpstreamKeys(config);
  const breakers = new Breakers({ failures: config.BREAKER_FAILURES, cooldownMs: config.BREAKER_COOLDOWN_MS });
  const metricsServer = config.WORKER_METRICS_PORT ? await serveMetrics(config.WORKER_METRICS_PORT, undefined, config.METRICS_TOKEN) : null;
  targetLabels.configure({
    maxDistinct: config.METRICS_MAX_TARGET_LABELS,
    configured: Object.values(config.file?.models ?? {}).flatMap((alias) => alias.targets.map((t) => `${t.provider}/${t.model}`)),
  });
  const usage = new UsagePublisher(nc, log, { store: opts.usageStore });
  const finalEvents = new FinalEvents(nc, log, { acked: config.NATS_STREAM_REPLICAS > 1 });
  const recorder = new UsageRecorder(usage, prices);
  const attempts = new AttemptRunner({
    breakers,
    hasFreeKey: (provider, model) => keys.hasFreeKey(provider, model),
    maxRetries: config.WORKER_MAX_RETRIES,
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    fallbackTimeoutMs: config.FALLBACK_TIMEOUT_MS,
    log,
  });
  const execution: ExecutionDeps = { keys, images, attempts };
  const guardrails = new GuardrailRegistry(config.file ?? null, { log });
  // SIGHUP: guardrail definitions follow the file.
  const stopReloadingGuardrails = opts.reload?.register(guardrails.reloadHook('worker guardrails'));
  // A result travels back as one NATS message, so a body the server cannot carry is refused as well.
  upstreamBodyLimits.maxBodyBytes = Math.min(config.UPSTREAM_MAX_BODY_BYTES, natsMaxPayload(nc) - HEADER_ROOM_BYTES);
  upstreamBodyLimits.maxEventBytes = config.UPSTREAM_MAX_EVENT_BYTES;
  const jobs = new IdTable<Job>();
  const consumers: ConsumerMessages[] = [];
  let inflight = 0;
  let closing = false;
  let wakeConsumer: (() => void) | null = null;

  // One wildcard subscription for every cancel, instead of one per request; it also remembers
  // cancels of requests not pulled yet, so they are skipped instead of run and billed.
  const cancelled = new CancelledRequests(
    nc,
    (id) => {
      const job = jobs.get(id);
      if (job) {
        job.cancelled = true;
        job.abort.abort();
      }
    },
    { retainMs: Math.max(900_000, config.REQUEST_TIMEOUT_MS) },
  );
  await cancelled.backfill(js, nats.jsm, log);

  // Long generations must tell JetStream they are alive, or the request is redelivered mid-stream.
  // One sweep for all jobs rather than a timer per request.
  const ackWaitMs = config.WORKER_ACK_WAIT_SECONDS * 1000;
  const workingEveryMs = Math.max(500, ackWaitMs / 3);
  const workingSweep = setInterval(() => {
    const now = Date.now();
    for (const job of jobs.values()) if (now - job.startedAt > workingEveryMs) job.msg.working();
  }, workingEveryMs);

  const providers = (opts.providers ?? Object.keys(config.providers)).filter((p) => getAdapter(p, config.file));
  // Set once the batch pump exists; interactive messages can arrive before that.
  let noteInteractive = () => {};
  for (const provider of providers) {
    for (const priority of ['interactive'] as Priority[]) {
      const consumer = await js.consumers.get(STREAMS.requests, consumerNames.worker(provider, priority));
      const messages = await consumer.consume(consumeOptions(Math.min(256, config.WORKER_CONCURRENCY)));
      consumers.push(messages);
      pump(messages).catch((err: unknown) => log.error({ err, provider }, 'request consumer failed'));
    }
  }
  // ---- batch priority: batch consumers are pulled only with room left by interactive work (batch-pump.ts) ----
  const batchPump = await startBatchPump({
    js,
    providers,
    log,
    maxInflight: config.WORKER_BATCH_CONCURRENCY,
    room: () => (wakeConsumer ? 0 : config.WORKER_CONCURRENCY - inflight),
    inflight: () => inflight,
    run: (msg) => runTracked(msg),
  });
  noteInteractive = () => batchPump.noteInteractive();
  // ---- end batch priority ----
  if (metricsServer) registerQueueDepth(nats.jsm, providers);
  log.info({ providers }, 'worker consuming');

  async function pump(messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) {
      while (inflight >= config.WORKER_CONCURRENCY && !closing) {
        await new Promise<void>((r) => (wakeConsumer = r));
      }
      if (closing) {
        msg.nak();
        continue;
      }
      noteInteractive();
      void runTracked(msg);
    }
  }

  /** Runs one request of either priority, counted against WORKER_CONCURRENCY. */
  function runTracked(msg: JsMsg): Promise<void> {
    inflight++;
    // A failure here (e.g. publishing an event on a connection closed at shutdown) must not become an
    // unhandled rejection; the unacked message is redelivered.
    const handled = (tracing.on ? traceDelivery(msg, () => handle(msg)) : handle(msg)).catch((err: unknown) =>
      log.error({ err, subject: msg.subject }, 'request handling failed'),
    );
    return handled.finally(() => {
      inflight--;
      const wake = wakeConsumer;
      wakeConsumer = null;
      wake?.();
    });
  }

  async function handle(msg: JsMsg): Promise<void> {
    const envelope = decodeRequestEnvelope(msg.headers as MsgHdrs);
    if (!envelope) {
      // No request id to answer to or bill: only a publisher other than an ingress can send this.
      log.error({ subject: msg.subject, seq: msg.seq }, 'request envelope is not JSON; dropped');
      msg.term();
      return;
    }
    const { requestId, provider, model, kind, stream } = envelope;
    // A request re-queued after a local run or a rescue counts the deliveries it had before.
    const attempt = msg.info.deliveryCount + priorDeliveries(msg.headers as MsgHdrs);
    const eventSubject = subjects.events(envelope.ingressId, requestId);
    let seq = 0;
    // The target that served (or was tried last) and the upstream calls made: fallbacks change both.
    const facts: UsageFacts = { served: { provider, model }, attempts: attempt, startedAt: Date.now() };
    // A client waits on an ingress (not batch or async work, whose results durable consumers read).
    const interactive = envelope.ingressId !== EVENT_OWNERS.batch && envelope.ingressId !== EVENT_OWNERS.async;
    // Non-streaming interactive answers whose ingress is in this process skip NATS (local-answers.ts).
    const mayAnswerLocally = !stream && interactive;
    // In a cluster: whether the final event(s) were stored; the request is acked only after that.
    let finalStored: Promise<boolean> | undefined;
    const publishOn = (subject: string, data: string, msgId: string) => {
      const stored = finalEvents.publish(subject, data, msgId);
      if (stored) finalStored = finalStored ? Promise.all([finalStored, stored]).then(([a, b]) => a && b) : stored;
    };
    // Batch and async results go to LLM_RESULTS, kept there until stored, before LLM_EVENTS (status
    // reads, crash recovery): a worker killed between the two leaves a result, not only a trace of it.
    const resultSubject = interactive ? null : asyncSubjects.result(envelope.ingressId as EventOwner, requestId);
    const publishFinal = (data: string, msgId: string) => {
      if (resultSubject) publishOn(resultSubject, data, msgId);
      publishOn(eventSubject, data, msgId);
    };
    const ack = async (): Promise<void> => {
      // Not stored: no ack, so the request comes back and its redelivery publishes the answer again.
      if (finalStored && !(await finalStored)) return;
      msg.ack();
    };
    // A stream whose ingress is in this process: events in memory, stored in batches (local-stream.ts).
    const local =
      stream && interactive && localAnswers.isHere(envelope.ingressId)
        ? new LocalStream(envelope.ingressId, requestId, (batch) => nc.publish(eventSubject, batch))
        : null;
    const emit = (ev: EventBody) => {
      if (tracing.on) traceEvent(ev);
      const event = { ...ev, seq: ++seq, attempt } as StreamEvent;
      if (local) {
        if (ev.type === 'chunk') return local.chunk(event);
        return publishFinal(local.final(event), `${requestId}.${attempt}.${seq}`);
      }
      if (ev.type === 'chunk') return nc.publish(eventSubject, JSON.stringify(event));
      if (mayAnswerLocally && localAnswers.deliver(envelope.ingressId, requestId, event)) return;
      publishFinal(JSON.stringify(event), `${requestId}.${attempt}.${seq}`);
    };
    const record = recorder.forRequest(envelope, facts);

    // A redelivery normally says so in its delivery count. A message older than the ack wait may have
    // been redelivered without it (seen with nats-server 2.9 after a worker was SIGKILLed): look up
    // its events too. Fresh requests never pay for the lookup.
    if (attempt > 1 || messageAgeMs(msg) > ackWaitMs) {
      const lastEvent = () => lastStoredEvent(nats.jsm, eventSubject);
      // A batch or async result goes to LLM_RESULTS again, in case the earlier delivery died between
      // its two publishes (a second copy is stored once: by msg id in a cluster, by request id in the database).
      const resend = (ev: StreamEvent) => {
        const data = JSON.stringify(ev);
        const msgId = `${requestId}.${ev.attempt}.${ev.seq}`;
        if (resultSubject) publishOn(resultSubject, data, msgId);
        else publishFinal(data, msgId);
      };
      if (await resumeAfterCrash(stream, { lastEvent, working: () => msg.working(), emit, resend, record, ack })) return;
    }
    // Nobody wants the answer any more: cancelled before it started, or an interactive caller's
    // deadline passed (e.g. while it waited for redelivery after a crash). Not run, not billed.
    const unwanted = unwantedReason(cancelled.has(requestId), envelope.deadline);
    if (unwanted) {
      emit(unwanted.event);
      facts.attempts = 0;
      try {
        await record({ ...EMPTY_USAGE }, 'cancelled', { error_code: unwanted.code });
        await ack();
      } catch (err) {
        log.error({ err, requestId }, 'usage publish failed; request will be redelivered');
      }
      return;
    }

    const job: Job = {
      msg,
      requestId,
      startedAt: Date.now(),
      abort: new AbortController(),
      cancelled: false,
      target: `${provider}/${model}`,
      hasFallback: false,
      spoke: false,
      // An earlier delivery counts as one upstream attempt (it died holding the request).
      attempts: attempt - 1,
      estTokens: 0,
    };
    jobs.set(requestId, job);
    let body: ChatCompletionRequest | EmbeddingsRequest;
    try {
      body = JSON.parse(dec.decode(msg.data));
    } catch {
      emit(errorEvent(errors.queuedBodyNotJson()));
      await record({ ...EMPTY_USAGE }, 'error', { error_code: 'invalid_json' }).catch(() => {});
      jobs.delete(requestId);
      msg.term();
      return;
    }

    try {
      job.estTokens = estimatePromptTokens(body) + maxOutputTokens(body, kind, config.LIMITS_DEFAULT_MAX_TOKENS);
    } catch {
      // A body too deep to walk: the adapter will refuse it as a 400; until then estimate by size.
      job.estTokens = Math.ceil(msg.data.length / 3.5);
    }

    // Content guardrails named by the ingress; null (and free) for a request without any.
    const guard = envelope.guardrails
      ? OutputGuard.create(guardrails, {
          names: envelope.guardrails,
          body: body as ChatCompletionRequest,
          ctx: { requestId, tenantId: envelope.tenantId, keyId: envelope.keyId, model: envelope.publicModel },
          emit,
          onViolation: () => {
            // Stop paying for an answer nobody will see; `cancelled` also rules out a retry or fallback.
            job.cancelled = true;
            job.abort.abort();
          },
        })
      : null;
    const emitChecked = guard ? guard.emit : emit;
    const refusedBy = () =>
      guard?.violation ? { error_code: guard.violation.unavailable ? 'guardrail_unavailable' : 'guardrail_blocked' } : null;

    // Set once the answer is out and checked: a failure after that is the usage record's (or the ack's), not the request's.
    let answered = false;
    try {
      // ---- routing policy: walk the alias targets (one target without an alias) ----
      const { result: outcome } = await walkTargets(
        envelope.targets,
        job,
        breakers,
        (e) => toFailure(e, job.cancelled),
        (t) => {
          facts.served = t;
          return runOnTarget(t, envelope, body, job, emitChecked);
        },
        (f) => new AdapterError(f),
      );
      facts.attempts = job.attempts;
      await guard?.settled();
      const refused = refusedBy();
      answered = true;
      await record(outcome.usage, refused ? 'error' : job.cancelled ? 'cancelled' : 'ok', {
        first_token_at: outcome.firstTokenAt ? new Date(outcome.firstTokenAt).toISOString() : null,
        ...refused,
      });
      await ack();
    } catch (err) {
      if (answered) {
        // Not an error for the client, who has the answer: leave the request unacked, so the
        // redelivery records usage (from the stored final event, or by running it again when the
        // answer was handed over in memory and not stored).
        log.error({ err, requestId }, 'usage publish failed; request will be redelivered');
        return;
      }
      facts.attempts = Math.max(job.attempts, 1);
      const failure = toFailure(err, job.cancelled);
      const partial = (err as PartialUsageError).partialUsage ?? { ...EMPTY_USAGE };
      if (!job.cancelled)
        emitChecked({
          type: 'error',
          status: failure.status,
          error: failure.error,
          ...(failure.retryAfterMs !== undefined ? { retry_after_ms: failure.retryAfterMs } : {}),
        });
      try {
        await guard?.settled();
        const refused = refusedBy();
        await record(partial, job.cancelled && !refused ? 'cancelled' : 'error', {
          error_code: job.cancelled ? 'cancelled' : (failure.error.code ?? failure.error.type),
          ...refused,
        });
        await ack();
      } catch (pubErr) {
        // Usage could not be stored: leave the request unacked so it is redelivered and recorded then.
        log.error({ err: pubErr, requestId }, 'usage publish failed; request will be redelivered');
      }
    } finally {
      jobs.delete(requestId);
    }
  }

  // ---- local execution: a held request runs here as a first delivery (local-delivery.ts) ----
  const local: LocalExecutor = {
    hasRoom: () => !closing && inflight < config.WORKER_CONCURRENCY,
    // A request whose answer is out and whose usage batch is lingering (up to 20 ms) is not busy.
    inflight: () => Math.max(0, inflight - usage.pending),
    run(headers, body, subject, stored, done) {
      const delivery = localDelivery(headers, body, subject);
      noteInteractive();
      // Started before its store was acknowledged (local-execution.ts). Refused: stop the upstream call;
      // what it produced is still recorded.
      void stored?.then((outcome) => {
        if (outcome === 'stored') return;
        for (const job of jobs.values()) {
          if (job.msg !== delivery.msg) continue;
          job.cancelled = true;
          job.abort.abort();
        }
      });
      const ran = runTracked(delivery.msg);
      void (stored ? Promise.all([ran, stored]) : ran).then(async (both) => {
        // Nothing stored, so nothing to re-queue or to purge later.
        if (both && both[1] !== 'stored') return done();
        // Neither acked nor terminated: where a consumer would redeliver, re-queue it as that redelivery.
        if (!delivery.settled) {
          try {
            await requeueRequest(js, headers, delivery.msg.data, 1);
          } catch (err) {
            // Still held: a rescuer runs it once this process is gone.
            log.error({ err, subject }, 'held request could not be re-queued');
            return;
          }
        }
        done();
      });
    },
  };

  /** One target of the walk: refused when this worker cannot serve it, else executed by kind. */
  async function runOnTarget(
    t: RouteTarget,
    { kind, stream, wire, anthropicBeta }: RequestEnvelope,
    body: ChatCompletionRequest | EmbeddingsRequest,
    job: Job,
    emit: (ev: EventBody) => void,
  ): Promise<ExecutionOutcome> {
    const adapter = getAdapter(t.provider, config.file);
    if (!adapter) throw AdapterError.from(errors.providerUnavailable(t.provider));
    const endpoint = config.providers[t.provider as ProviderName]!;
    // Retryable only so that an alias falls back to its next target; there is no retry on the same one.
    if (endpoint.configured === false) throw AdapterError.from(providerNotConfigured(t.provider), true);
    const target = { adapter, endpoint, model: t.model };
    if (wire === 'anthropic')
      return runMessages(execution, target, body as unknown as MessagesRequest, { stream, anthropicBeta }, job, emit);
    if (kind === 'embeddings') return runEmbeddings(execution, target, body as EmbeddingsRequest, job, emit);
    return stream
      ? runStream(execution, target, body as ChatCompletionRequest, job, emit)
      : runChat(execution, target, body as ChatCompletionRequest, job, emit);
  }

  return {
    get inflight() {
      return inflight;
    },
    guardrails,
    local,
    async close() {
      closing = true;
      stopReloading?.();
      stopReloadingGuardrails?.();
      wakeConsumer?.();
      clearInterval(workingSweep);
      for (const c of consumers) await c.close().catch(() => {});
      await batchPump.close();
      // In-flight requests finish (SIGTERM drain); what is still running at the deadline is redelivered.
      const deadline = Date.now() + config.DRAIN_TIMEOUT_MS;
      while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      cancelled.close();
      finalEvents.close();
      await usage.close();
      metricsServer?.close();
      await images.close();
    },
  };
}

/** How long ago the request entered LLM_REQUESTS. */
function messageAgeMs(msg: JsMsg): number {
  return Date.now() - msg.info.timestampNanos / 1e6;
}
