// Pulls normalized requests from JetStream per provider, calls the upstream through the provider
// adapter, publishes events back to the ingress that owns the request, publishes one usage record,
// and only then acks. A worker that dies holding a request leaves it to be redelivered.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Nats } from '../../shared/nats/connection.ts';
import { consumerNames, STREAMS, subjects, type Priority } from '../../shared/nats/topology.ts';
import type { SwitchyardConfig, ProviderName } from '../../shared/config/env.ts';
import type { ChatCompletionRequest, EmbeddingsRequest } from '../../shared/protocol/openai.ts';
import {
  EMPTY_USAGE,
  type ChunkDelta,
  type EventBody,
  type StreamEvent,
  type Usage,
  type UsageRecord,
} from '../../shared/protocol/events.ts';
import { AdapterError, upstreamFailure, type ProviderAdapter, type UpstreamError } from '../../shared/providers/types.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import { getAdapter } from '../../shared/providers/registry.ts';
import { PriceBook } from '../../shared/config/prices.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { registerUpstreamSecrets, scrubErrorBody } from '../../shared/telemetry/secrets.ts';
import { ImageFetcher, imagePolicyFromConfig } from '../../shared/providers/common/remote-images.ts';
import { startBatchPump } from './batch-pump.ts';
import { upstreamBodyLimits, upstreamLatency } from './upstream.ts';
import { HEADER_ROOM_BYTES, natsMaxPayload } from '../../shared/nats/payload-limits.ts';
import { CancelledRequests } from './cancelled-requests.ts';
import { UsagePublisher } from './usage-publisher.ts';
// ---- routing policy: fallbacks, breakers, upstream keys, metrics (docs/guardrails.md) ----
import { priceBookFromConfig } from '../../shared/config/file.ts';
import type { RouteTarget } from '../../shared/protocol/targets.ts';
import { decodeRequestEnvelope } from '../../shared/nats/request-envelope.ts';
import { estimatePromptTokens, maxOutputTokens } from '../../shared/limits/estimate.ts';
import { metrics, registerQueueDepth, serveMetrics } from '../../shared/telemetry/metrics.ts';
import { targetLabels } from '../../shared/telemetry/target-labels.ts';
import { Breakers } from './breaker.ts';
import { UpstreamKeys } from './upstream-keys.ts';
import { isHealthFailure, walkTargets, type WalkState } from './fallback.ts';
import { providerNotConfigured } from '../../shared/config/providers.ts';
import { translateRequest } from './request-faults.ts';

export interface WorkerOptions {
  config: SwitchyardConfig;
  nats: Nats;
  log: Logger;
  /** Providers this process serves; default: every provider with an adapter. */
  providers?: string[];
  prices?: PriceBook;
}

export interface Worker {
  close(): Promise<void>;
  readonly inflight: number;
}

interface Job extends WalkState {
  msg: JsMsg;
  requestId: string;
  startedAt: number;
  abort: AbortController;
  cancelled: boolean;
  /** Upstream calls made for this request, counting earlier deliveries as one each. */
  attempts: number;
  /** Estimated tokens, for upstream-key tpm limiters. */
  estTokens: number;
}

const dec = new TextDecoder();

export async function startWorker(opts: WorkerOptions): Promise<Worker> {
  const { config, nats, log } = opts;
  const { nc, js } = nats;
  const prices = opts.prices ?? (config.file ? priceBookFromConfig(config.file) : new PriceBook());
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
  const usage = new UsagePublisher(js, log);
  // A result travels back as one NATS message, so a body the server cannot carry is refused as well.
  upstreamBodyLimits.maxBodyBytes = Math.min(config.UPSTREAM_MAX_BODY_BYTES, natsMaxPayload(nc) - HEADER_ROOM_BYTES);
  upstreamBodyLimits.maxEventBytes = config.UPSTREAM_MAX_EVENT_BYTES;
  const jobs = new Map<string, Job>();
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

  const providers = (opts.providers ?? Object.keys(config.providers)).filter((p) => getAdapter(p));
  // Set once the batch pump exists; interactive messages can arrive before that.
  let noteInteractive = () => {};
  for (const provider of providers) {
    for (const priority of ['interactive'] as Priority[]) {
      const consumer = await js.consumers.get(STREAMS.requests, consumerNames.worker(provider, priority));
      const messages = await consumer.consume({ max_messages: Math.min(256, config.WORKER_CONCURRENCY) });
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
    upstreamLatencyMs: () => upstreamLatency.ewmaMs || 200,
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
    const handled = handle(msg).catch((err: unknown) => log.error({ err, subject: msg.subject }, 'request handling failed'));
    return handled.finally(() => {
      inflight--;
      const wake = wakeConsumer;
      wakeConsumer = null;
      wake?.();
    });
  }

  async function handle(msg: JsMsg): Promise<void> {
    const envelope = decodeRequestEnvelope(msg.headers as MsgHdrs);
    const { requestId, provider, model, kind, stream, receivedAt } = envelope;
    const attempt = msg.info.deliveryCount;
    const eventSubject = subjects.events(envelope.ingressId, requestId);
    let seq = 0;
    // The target that served (or was tried last) and the upstream calls made: fallbacks change both.
    const served: RouteTarget = { provider, model };
    let attemptsMade = attempt;
    const emit = (ev: EventBody) => {
      nc.publish(eventSubject, JSON.stringify({ ...ev, seq: ++seq, attempt }));
    };
    const record = (u: Usage, status: UsageRecord['status'], extra: Partial<UsageRecord> = {}): Promise<void> => {
      const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
      const rec: UsageRecord = {
        request_id: requestId,
        tenant_id: envelope.tenantId,
        key_id: envelope.keyId,
        provider: served.provider,
        model: envelope.publicModel,
        upstream_model: served.model,
        kind,
        status,
        input_tokens: u.prompt_tokens,
        cached_input_tokens: cached,
        output_tokens: u.completion_tokens,
        reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
        cost_usd: prices.cost(served.provider, served.model, { input: u.prompt_tokens, cached, output: u.completion_tokens }),
        attempts: attemptsMade,
        error_code: null,
        batch_id: envelope.batchId,
        received_at: new Date(receivedAt).toISOString(),
        first_token_at: null,
        completed_at: new Date().toISOString(),
        ...extra,
      };
      metrics.tokens.inc({ provider: rec.provider, direction: 'input' }, rec.input_tokens);
      metrics.tokens.inc({ provider: rec.provider, direction: 'output' }, rec.output_tokens);
      if (rec.cost_usd > 0) metrics.cost.inc({ provider: rec.provider }, rec.cost_usd);
      metrics.upstreamDuration.observe({ provider: rec.provider }, (Date.now() - job0) / 1000);
      return usage.publish(rec);
    };
    const job0 = Date.now();

    // A redelivery normally says so in its delivery count. A message older than the ack wait may have
    // been redelivered without it (seen with nats-server 2.9 after a worker was SIGKILLed): look up
    // its events too. Fresh requests never pay for the lookup.
    if (attempt > 1 || messageAgeMs(msg) > ackWaitMs) {
      const handled = await resumeAfterCrash(msg, eventSubject, stream, emit, record);
      if (handled) return;
    }
    // Nobody wants the answer any more: cancelled before it started, or an interactive caller's
    // deadline passed (e.g. while it waited for redelivery after a crash). Not run, not billed.
    const unwanted = unwantedReason(requestId, envelope.deadline);
    if (unwanted) {
      emit(unwanted.event);
      attemptsMade = 0;
      try {
        await record({ ...EMPTY_USAGE }, 'cancelled', { error_code: unwanted.code });
        msg.ack();
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

    try {
      // ---- routing policy: walk the alias targets (one target without an alias) ----
      const { result: outcome } = await walkTargets(
        envelope.targets,
        job,
        breakers,
        (e) => toFailure(e, job),
        async (t) => {
          served.provider = t.provider;
          served.model = t.model;
          const adapter = getAdapter(t.provider);
          if (!adapter) throw AdapterError.from(errors.providerUnavailable(t.provider));
          const endpoint = config.providers[t.provider as ProviderName];
          if (endpoint.configured === false) {
            // Retryable only so that an alias falls back to its next target; there is no retry on the same one.
            throw AdapterError.from(providerNotConfigured(t.provider), true);
          }
          return kind === 'embeddings'
            ? await runEmbeddings(adapter, endpoint, t.model, body as EmbeddingsRequest, job, emit)
            : stream
              ? await runStream(adapter, endpoint, t.model, body as ChatCompletionRequest, job, emit)
              : await runChat(adapter, endpoint, t.model, body as ChatCompletionRequest, job, emit);
        },
        (f) => new AdapterError(f),
      );
      attemptsMade = job.attempts;
      await record(outcome.usage, job.cancelled ? 'cancelled' : 'ok', {
        first_token_at: outcome.firstTokenAt ? new Date(outcome.firstTokenAt).toISOString() : null,
      });
      msg.ack();
    } catch (err) {
      attemptsMade = Math.max(job.attempts, 1);
      const failure = toFailure(err, job);
      const partial = (err as { partialUsage?: Usage }).partialUsage ?? { ...EMPTY_USAGE };
      if (!job.cancelled)
        emit({
          type: 'error',
          status: failure.status,
          error: failure.error,
          ...(failure.retryAfterMs !== undefined ? { retry_after_ms: failure.retryAfterMs } : {}),
        });
      try {
        await record(partial, job.cancelled ? 'cancelled' : 'error', {
          error_code: job.cancelled ? 'cancelled' : (failure.error.code ?? failure.error.type),
        });
        msg.ack();
      } catch (pubErr) {
        // Usage could not be stored: leave the request unacked so it is redelivered and recorded then.
        log.error({ err: pubErr, requestId }, 'usage publish failed; request will be redelivered');
      }
    } finally {
      jobs.delete(requestId);
    }
  }

  /** Why a request must not run (cancel heard, or its interactive caller's deadline passed), or null. */
  function unwantedReason(requestId: string, deadline: number): { code: string; event: EventBody } | null {
    if (cancelled.has(requestId)) return { code: 'cancelled', event: errorEvent(errors.cancelled()) };
    if (deadline && Date.now() > deadline) return { code: 'deadline_exceeded', event: errorEvent(errors.deadlineExceeded()) };
    return null;
  }

  /**
   * A redelivered request: a previous worker died holding it. What that worker already did is in
   * LLM_EVENTS. Finished: only the usage record may be missing, so publish it again (the ledger
   * dedupes). Partly streamed: the client has seen tokens we cannot take back, so end the stream
   * with an error instead of starting over. Nothing sent yet: run it again, invisibly.
   */
  async function resumeAfterCrash(
    msg: JsMsg,
    eventSubject: string,
    stream: boolean,
    emit: (ev: EventBody) => void,
    record: (u: Usage, status: UsageRecord['status'], extra?: Partial<UsageRecord>) => Promise<void>,
  ): Promise<boolean> {
    let last: StreamEvent | null = null;
    try {
      const stored = await nats.jsm.streams.getMessage(STREAMS.events, { last_by_subj: eventSubject });
      if (stored) last = JSON.parse(dec.decode(stored.data)) as StreamEvent;
    } catch {
      last = null; // no events for this request: nothing reached anyone yet
    }
    if (!last) return false;
    if (last.type === 'done' || last.type === 'result') {
      await record(last.usage as Usage, 'ok');
      msg.ack();
      return true;
    }
    if (last.type === 'error') {
      await record({ ...EMPTY_USAGE }, 'error', {
        error_code: last.error.code ?? last.error.type,
      });
      msg.ack();
      return true;
    }
    if (!stream) return false;
    emit(errorEvent(errors.streamInterrupted()));
    await record({ ...EMPTY_USAGE }, 'error', { error_code: 'stream_interrupted' });
    msg.ack();
    return true;
  }

  /** Calls the upstream with retries on retryable errors, honouring retry hints. */
  async function withRetries<T>(job: Job, attemptFn: () => Promise<T>, canRetry: () => boolean): Promise<T> {
    const provider = job.target.slice(0, job.target.indexOf('/'));
    for (let i = 0; ; i++) {
      job.attempts++;
      try {
        const out = await attemptFn();
        breakers.success(job.target);
        metrics.upstreamRequests.inc({ provider, outcome: 'ok' });
        return out;
      } catch (err) {
        const failure = toFailure(err, job);
        if (!job.cancelled) {
          metrics.upstreamRequests.inc({ provider, outcome: String(failure.status) });
          if (isHealthFailure(failure)) breakers.failure(job.target);
        }
        if (job.cancelled || !failure.retryable || i >= config.WORKER_MAX_RETRIES || !canRetry()) throw err;
        // Another target is left: it answers sooner than a backoff on this one (walkTargets moves on).
        if (job.hasFallback) throw err;
        metrics.retries.inc({ provider });
        const backoff = Math.min(8_000, 100 * 2 ** i) * (0.5 + Math.random());
        // A retry-after of one exhausted key need not hold us when the provider has another key free.
        const hint = keys.hasFreeKey(provider, job.target.slice(provider.length + 1)) ? 0 : (failure.retryAfterMs ?? 0);
        const wait = Math.min(30_000, Math.max(backoff, hint));
        log.debug({ requestId: job.requestId, status: failure.status, wait }, 'retrying upstream');
        await sleep(wait, job.abort.signal);
      }
    }
  }

  async function runChat(
    adapter: ProviderAdapter,
    endpoint: SwitchyardConfig['providers'][ProviderName],
    model: string,
    body: ChatCompletionRequest,
    job: Job,
    emit: (ev: EventBody) => void,
  ) {
    const result = await withRetries(
      job,
      async () => {
        const key = keys.pick(adapter.name, model);
        const up = await translateRequest(adapter.name, () =>
          adapter.buildChatRequest(key.endpoint(endpoint), model, body, false, { images: images.session(job.abort.signal) }),
        );
        const res = await key.send(up, model, job.abort.signal, attemptTimeout(job), job.estTokens, !job.hasFallback);
        const text = await res.body.text();
        if (res.status >= 400) throw new AdapterError(adapter.parseError(res.status, text, res.headers));
        return adapter.parseChatResponse(JSON.parse(text), model);
      },
      () => true,
    );
    emit({
      type: 'result',
      kind: 'chat',
      message: result.message,
      finish_reason: result.finish_reason,
      usage: result.usage,
      model: result.model,
      provider: adapter.name,
      target: job.target,
      attempts: job.attempts,
      ...simulatedFlag(endpoint),
    });
    return { usage: result.usage, firstTokenAt: Date.now() };
  }

  async function runEmbeddings(
    adapter: ProviderAdapter,
    endpoint: SwitchyardConfig['providers'][ProviderName],
    model: string,
    body: EmbeddingsRequest,
    job: Job,
    emit: (ev: EventBody) => void,
  ) {
    if (!adapter.supportsEmbeddings) {
      throw AdapterError.from(errors.noEmbeddings(adapter.name));
    }
    const result = await withRetries(
      job,
      async () => {
        const key = keys.pick(adapter.name, model);
        const up = await translateRequest(adapter.name, () => adapter.buildEmbeddingsRequest(key.endpoint(endpoint), model, body));
        const res = await key.send(up, model, job.abort.signal, attemptTimeout(job), job.estTokens, !job.hasFallback);
        const text = await res.body.text();
        if (res.status >= 400) throw new AdapterError(adapter.parseError(res.status, text, res.headers));
        return adapter.parseEmbeddingsResponse(JSON.parse(text), model, body);
      },
      () => true,
    );
    emit({
      type: 'result',
      kind: 'embeddings',
      data: result.data,
      usage: result.usage,
      model: result.model,
      provider: adapter.name,
      target: job.target,
      attempts: job.attempts,
      ...simulatedFlag(endpoint),
    });
    const u: Usage = { prompt_tokens: result.usage.prompt_tokens, completion_tokens: 0, total_tokens: result.usage.total_tokens };
    return { usage: u, firstTokenAt: Date.now() };
  }

  async function runStream(
    adapter: ProviderAdapter,
    endpoint: SwitchyardConfig['providers'][ProviderName],
    model: string,
    body: ChatCompletionRequest,
    job: Job,
    emit: (ev: EventBody) => void,
  ) {
    let firstTokenAt: number | null = null;
    let usageSeen: Usage | null = null;
    let finish: string | null = null;
    let chunks = 0;
    try {
      await withRetries(
        job,
        async () => {
          const key = keys.pick(adapter.name, model);
          const up = await translateRequest(adapter.name, () =>
            adapter.buildChatRequest(key.endpoint(endpoint), model, body, true, { images: images.session(job.abort.signal) }),
          );
          const res = await key.send(up, model, job.abort.signal, attemptTimeout(job), job.estTokens, !job.hasFallback);
          if (res.status >= 400) throw new AdapterError(adapter.parseError(res.status, await res.body.text(), res.headers));
          const translator = adapter.createStreamTranslator(model);
          const decoder = new TextDecoder();
          const take = (parts: ReturnType<typeof translator.push>) => {
            // Text that arrived in one upstream read is relayed as one chunk: a NATS message per
            // token is the main cost of streaming, and the client sees the same text either way.
            let pending: ChunkDelta | null = null;
            const flush = () => {
              if (!pending) return;
              if (firstTokenAt === null) {
                firstTokenAt = Date.now();
                job.spoke = true; // no fallback from here on
                emit({ type: 'chunk', delta: pending, provider: adapter.name, attempts: job.attempts, ...simulatedFlag(endpoint) });
              } else emit({ type: 'chunk', delta: pending });
              pending = null;
            };
            for (const part of parts) {
              if (part.type === 'delta') {
                chunks++;
                if (pending && canMerge(pending, part.delta)) {
                  if (part.delta.content !== undefined) pending.content += part.delta.content;
                  if (part.delta.reasoning_content !== undefined) pending.reasoning_content += part.delta.reasoning_content;
                } else {
                  flush();
                  pending = { ...part.delta };
                }
              } else {
                flush();
                if (part.type === 'finish') finish = part.finish_reason;
                else if (part.type === 'usage') usageSeen = part.usage;
                else throw new AdapterError(part.error);
              }
            }
            flush();
          };
          try {
            for await (const buf of res.body) take(translator.push(decoder.decode(buf, { stream: true })));
          } catch (err) {
            if (err instanceof AdapterError || job.cancelled) throw err;
            throw AdapterError.from(errors.upstreamStreamBroken((err as Error).message), true);
          }
          take(translator.end());
        },
        // Never retry once the client has seen a token: it would get the answer twice.
        () => chunks === 0,
      );
    } catch (err) {
      (err as { partialUsage?: Usage }).partialUsage = usageSeen ?? { prompt_tokens: 0, completion_tokens: chunks, total_tokens: chunks };
      throw err;
    }
    const u: Usage = usageSeen ?? { prompt_tokens: 0, completion_tokens: chunks, total_tokens: chunks };
    emit({
      type: 'done',
      finish_reason: finish ?? 'stop',
      usage: u,
      model,
      provider: adapter.name,
      target: job.target,
      attempts: job.attempts,
      ...simulatedFlag(endpoint),
    });
    return { usage: u, firstTokenAt };
  }

  /** With a fallback target left, do not wait the full upstream timeout for this one. */
  function attemptTimeout(job: Job): number {
    return job.hasFallback ? Math.min(config.FALLBACK_TIMEOUT_MS, config.UPSTREAM_TIMEOUT_MS) : config.UPSTREAM_TIMEOUT_MS;
  }

  /** Every failure the client or a log sees passes here: upstream text is scrubbed of keys once, here. */
  function toFailure(err: unknown, job: Job): UpstreamError {
    const failure = classifyFailure(err, job);
    return { ...failure, error: scrubErrorBody(failure.error) };
  }

  function classifyFailure(err: unknown, job: Job): UpstreamError {
    if (err instanceof AdapterError) return err.upstream;
    if (job.cancelled) return upstreamFailure(errors.cancelled());
    const e = err as Error & { code?: string };
    if (e?.name === 'ZodError' || e instanceof SyntaxError) return upstreamFailure(errors.badUpstreamResponse(e.message.slice(0, 300)));
    const timeout = e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT';
    return upstreamFailure(errors.upstreamUnreachable(e?.message ?? String(err), timeout), true);
  }

  return {
    get inflight() {
      return inflight;
    },
    async close() {
      closing = true;
      wakeConsumer?.();
      clearInterval(workingSweep);
      for (const c of consumers) await c.close().catch(() => {});
      await batchPump.close();
      const deadline = Date.now() + 10_000;
      while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      cancelled.close();
      await usage.close();
      metricsServer?.close();
      await images.close();
    },
  };
}

/** Marks events of a simulated endpoint; absent otherwise, so real answers carry no extra bytes. */
function simulatedFlag(endpoint: { simulated?: boolean }): { simulated?: true } {
  return endpoint.simulated ? { simulated: true } : {};
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/** Two text deltas of the same kind (content, reasoning) concatenate; tool-call deltas never merge. */
function canMerge(a: ChunkDelta, b: ChunkDelta): boolean {
  return (
    !a.tool_calls &&
    !b.tool_calls &&
    !a.role &&
    !b.role &&
    (a.content === undefined) === (b.content === undefined) &&
    (a.reasoning_content === undefined) === (b.reasoning_content === undefined)
  );
}

/** How long ago the request entered LLM_REQUESTS. */
function messageAgeMs(msg: JsMsg): number {
  return Date.now() - msg.info.timestampNanos / 1e6;
}

/** The `error` event for a catalog error the worker raises itself. */
function errorEvent(error: ApiError): EventBody {
  return { type: 'error', status: error.status, error: error.toBody().error };
}
