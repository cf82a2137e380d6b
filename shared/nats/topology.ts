// The single source of truth for every stream, consumer and subject Switchyard uses.
// Names here are a public contract (see docs/architecture.md): change them on purpose only.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { isAlreadyExists, isConsumerNotFound, isStreamNotFound } from './errors.ts';

export type Priority = 'interactive' | 'batch';

export const STREAMS = {
  requests: 'LLM_REQUESTS',
  events: 'LLM_EVENTS',
  usage: 'LLM_USAGE',
  /** Every `llm.cancel.<id>` kept a while, so a worker that was not listening still sees it (worker/cancelled-requests.ts). */
  cancels: 'LLM_CANCELS',
  /** Batch and async results, each kept until the database has it (services/batch, services/ingress/async-requests.ts). */
  results: 'LLM_RESULTS',
} as const;

const NS = 1_000_000_000;
const secondsToNanos = (s: number) => Math.round(s * NS);

// Subject builders. Tokens must not contain '.', '*' or '>' (ids and provider names never do).
/** Where local execution holds requests (subjects.held): `_held` cannot be a provider's name. */
const HELD = 'llm.req._held';

export const subjects = {
  request: (provider: string, priority: Priority) => `llm.req.${provider}.${priority}`,
  requestsOf: (provider: string) => `llm.req.${provider}.>`,
  events: (ingressId: string, requestId: string) => `llm.evt.${ingressId}.${requestId}`,
  /** One wildcard subscription per ingress process; events are demultiplexed by request id. */
  eventsInbox: (ingressId: string) => `llm.evt.${ingressId}.>`,
  /** Any ingress can read a request's events back from LLM_EVENTS (resume, async fetch). */
  eventsOfRequest: (requestId: string) => `llm.evt.*.${requestId}`,
  usage: (tenantId: string) => `llm.usage.${tenantId}`,
  cancel: (requestId: string) => `llm.cancel.${requestId}`,
  cancelAll: 'llm.cancel.>',
  /**
   * Requests the one-process layout runs in its own worker as soon as they are stored (local
   * execution, shared/runtime/local-execution.ts): in LLM_REQUESTS, on a subject no worker consumer
   * reads, one per ingress and second, purged once every request of that second has ended. `_held`
   * cannot be a provider's name (provider names are plain words).
   */
  held: (ingressId: string, second: number) => `${HELD}.${ingressId}.${second}`,
  heldOf: (ingressId: string) => `${HELD}.${ingressId}.>`,
  heldAll: `${HELD}.>`,
  /**
   * The low-cardinality form of a request subject a worker ran a request from (a span's
   * `messaging.destination.template`): a held subject names an ingress and a second.
   */
  requestTemplate: (subject: string) => (subject.startsWith(`${HELD}.`) ? `${HELD}.{ingress}.{second}` : 'llm.req.{provider}.{priority}'),
  /** Core request-reply: answered while the ingress that holds requests is connected (services/all/rescuer.ts). */
  alive: (ingressId: string) => `llm.alive.${ingressId}`,
  /** Control plane broadcast: revoked keys, changed tenants. Core NATS, not persisted. */
  keyRevoked: 'llm.ctl.key.revoked',
  tenantChanged: 'llm.ctl.tenant.changed',
  /** Core: a batch was created; batch runners look for one to claim now, not at their next poll. */
  batchCreated: 'llm.ctl.batch.created',
} as const;

/** Header names carried by a request message; the body is the client's raw JSON. */
export const H = {
  /** The whole envelope as one JSON header (shared/nats/request-envelope.ts); the names below are what older publishers sent. */
  envelope: 'sy-envelope',
  requestId: 'sy-request-id',
  tenantId: 'sy-tenant',
  keyId: 'sy-key',
  ingressId: 'sy-ingress',
  kind: 'sy-kind', // chat | embeddings
  provider: 'sy-provider',
  model: 'sy-model', // upstream model name (provider prefix stripped)
  publicModel: 'sy-public-model', // model as the client named it
  stream: 'sy-stream', // '1' when the client wants SSE
  priority: 'sy-priority',
  batchId: 'sy-batch',
  receivedAt: 'sy-received-at',
  /** Epoch ms after which nobody waits for the answer (interactive callers only): the worker drops it unrun. */
  deadline: 'sy-deadline',
  /** Alias routes: every target to try, in order, as `provider/model,provider/model` (absent: one target). */
  targets: 'sy-targets',
  /** The client's API dialect when it is not OpenAI chat: `anthropic` = a Messages body (absent: OpenAI). */
  wire: 'sy-wire',
  /** Anthropic Messages only: the client's `anthropic-beta` header, passed to an Anthropic upstream. */
  anthropicBeta: 'sy-anthropic-beta',
  /** Content guardrails the worker applies (during_call, post_call), comma-separated names (absent: none). */
  guardrails: 'sy-guardrails',
  /** Deliveries the request had before this message (it was re-queued after a local run or a rescue); absent: 0. */
  priorDeliveries: 'sy-prior-deliveries',
} as const;

/**
 * KV buckets for tenant controls (see docs/guardrails.md). Rate state is short-lived (rolling
 * 60-s windows, concurrency slots refreshed by heartbeat); budget counters live for a period.
 */
export const KV_BUCKETS = {
  rate: 'LLM_RATE_LIMITS',
  budget: 'LLM_BUDGETS',
} as const;

export const kvBucketOptions = {
  // Anything not rewritten for 10 minutes is stale: windows are 60 s, slots are refreshed every 10 s.
  [KV_BUCKETS.rate]: { history: 1, ttl: 10 * 60_000, storage: StorageType.Memory },
  // Longer than a month, so a monthly counter never ages out inside its period.
  [KV_BUCKETS.budget]: { history: 1, ttl: 35 * 24 * 3600_000, storage: StorageType.File },
} as const;

/** KV keys; ids never contain '.', '*' or '>' (KV keys allow letters, digits, '-', '_', '=', '.'). */
export const kvKeys = {
  rate: (scope: 'tenant' | 'key', id: string) => `${scope}.${id}`,
  budget: (tenantId: string, period: string) => `${tenantId}.${period}`,
} as const;

/**
 * Exact-match response cache (docs/caching.md), one bucket for every tenant: keys are
 * `<tenantId>.<sha256 of the normalized request>`. The bucket's max age is the longest TTL allowed;
 * a shorter per-entry TTL is checked on read (nats-server 2.9 has no per-message TTL).
 */
export const RESPONSE_CACHE_BUCKET = 'LLM_RESPONSE_CACHE';

export function responseCacheBucketOptions(maxTtlSeconds: number) {
  return { history: 1, ttl: maxTtlSeconds * 1000, storage: StorageType.File } as const;
}

export const responseCacheKey = (tenantId: string, requestHash: string) => `${tenantId}.${requestHash}`;

// ---- Async work: batch and async results, resumable streams (services/batch, services/ingress) ----
/**
 * Pseudo ingress ids. The batch runner and `Prefer: respond-async` publish requests with these as the
 * ingress id, so their events land on `llm.evt.batch.<id>` / `llm.evt.async.<id>` in LLM_EVENTS
 * (status reads, a worker's crash recovery), and the event that ends each one also on
 * `llm.res.batch.<id>` / `llm.res.async.<id>` in LLM_RESULTS, where one durable consumer each
 * collects them (no process has to be alive and listening when a result arrives).
 */
export const EVENT_OWNERS = { batch: 'batch', async: 'async' } as const;
export type EventOwner = (typeof EVENT_OWNERS)[keyof typeof EVENT_OWNERS];

export const asyncSubjects = {
  /** The event that ends a batch line or an async request, kept in LLM_RESULTS until stored. */
  result: (owner: EventOwner, requestId: string) => `llm.res.${owner}.${requestId}`,
  resultsOf: (owner: EventOwner) => `llm.res.${owner}.>`,
  /** Core: a stream was resumed; the ingress that lost its client drops its pending grace cancel. */
  resumed: (requestId: string) => `llm.ctl.resumed.${requestId}`,
  resumedAll: 'llm.ctl.resumed.>',
} as const;

/** The request id a result's subject (`llm.res.<owner>.<id>`, or `llm.evt.<owner>.<id>`) names. */
export const requestIdOfResult = (subject: string) => subject.slice(subject.lastIndexOf('.') + 1);

export const asyncConsumerNames = { batchResults: 'batch-results', asyncResults: 'async-results' } as const;

/**
 * The KV bucket (request id -> owning tenant) versions before 2026-12 kept resume owners in. Nothing
 * writes it now: a stream's owner record is the first message on its subject in LLM_EVENTS
 * (shared/nats/stored-events.ts). Read, while it exists, for streams started before an upgrade.
 */
export const REQUEST_OWNERS_BUCKET = 'LLM_REQUEST_OWNERS';

/** The old owners bucket's stream, or null when there is none. */
export async function legacyOwnersStream(jsm: JetStreamManager): Promise<StreamInfo | null> {
  return jsm.streams.info(`KV_${REQUEST_OWNERS_BUCKET}`).catch((err: unknown) => {
    if (isStreamNotFound(err)) return null;
    throw err;
  });
}

/**
 * Deletes the old owners bucket once nothing is left in it (its records age out with
 * EVENTS_MAX_AGE_SECONDS after an upgrade); true when it did. A bucket still holding records is kept
 * for the resumes they serve, and a later start removes it.
 */
export async function removeDrainedOwnersBucket(jsm: JetStreamManager): Promise<boolean> {
  const info = await legacyOwnersStream(jsm);
  if (!info || info.state.messages > 0) return false;
  return jsm.streams.delete(info.config.name).catch((err: unknown) => {
    if (isStreamNotFound(err)) return false;
    throw err;
  });
}

/** The durable consumer that stores each owner's results (LLM_RESULTS, `llm.res.<owner>.>`). */
export const resultConsumers = [
  { owner: EVENT_OWNERS.batch, durable: asyncConsumerNames.batchResults },
  { owner: EVENT_OWNERS.async, durable: asyncConsumerNames.asyncResults },
] as const;

function asyncConsumerConfigs(): Array<{ stream: string; config: Partial<ConsumerConfig> & { durable_name: string } }> {
  const common = {
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: secondsToNanos(30),
    // A result must not be dropped while the database is away: redeliver until it is stored.
    max_deliver: -1,
    max_ack_pending: 10_000,
    max_waiting: 512,
  };
  return resultConsumers.map(({ owner, durable }) => ({
    stream: STREAMS.results,
    config: { ...common, durable_name: durable, filter_subject: asyncSubjects.resultsOf(owner) },
  }));
}
// ---- end async work ----

export interface TopologyOptions {
  providers: readonly string[];
  /** How long a worker may hold a request before JetStream redelivers it (msg.working() extends it). */
  ackWaitSeconds?: number;
  maxDeliver?: number;
  /** How long a ledger may hold usage records unacked (it calls msg.working() while the database is down). */
  ledgerAckWaitSeconds?: number;
  /** How long events are kept for resume and async fetch. */
  eventsMaxAgeSeconds?: number;
  /** Bytes LLM_EVENTS may hold (EVENTS_MAX_BYTES); the oldest events go first past it. */
  eventsMaxBytes?: number;
  /**
   * Where LLM_EVENTS lives (EVENTS_STORAGE, default `file`). nats-server does not recreate a
   * memory-stored stream when it restarts: with `memory`, a restart loses every resumable stream (batch
   * and async results wait in LLM_RESULTS, always on disk). Fixed when the stream is first created.
   */
  eventsStorage?: 'file' | 'memory';
  /** How long cancels are kept for workers that start later (at least the interactive deadline). */
  cancelsMaxAgeSeconds?: number;
  /**
   * Where queued requests live: `file` survives a nats-server restart, `memory` does not (an
   * accepted request that has not reached a worker is lost with the server; a client waiting on it
   * gets an error, never a silent success). Fixed when the stream is first created.
   */
  requestStorage?: 'file' | 'memory';
  /** Copies of every stream in a JetStream cluster (NATS_STREAM_REPLICAS); 1 on a single server. */
  replicas?: number;
}

export function streamConfigs(opts: TopologyOptions): Array<Partial<StreamConfig> & { name: string }> {
  const num_replicas = opts.replicas ?? 1;
  const streams: Array<Partial<StreamConfig> & { name: string }> = [
    {
      name: STREAMS.requests,
      subjects: ['llm.req.>'],
      retention: RetentionPolicy.Workqueue,
      storage: opts.requestStorage === 'memory' ? StorageType.Memory : StorageType.File,
      // Nats-Msg-Id = request id: a client or ingress retry inside this window is not executed twice
      // (held copies carry none: services/ingress/dispatcher.ts).
      duplicate_window: secondsToNanos(120),
      max_age: secondsToNanos(24 * 3600),
      discard: DiscardPolicy.Old,
    },
    {
      name: STREAMS.events,
      subjects: ['llm.evt.>'],
      retention: RetentionPolicy.Limits,
      // File by default: a nats-server restart drops memory-stored streams, and every resumable
      // stream with them (docs/benchmarks.md, levers row "eventsfile").
      // A stream whose ingress shares the worker's process is stored in batches (local-stream.ts).
      storage: opts.eventsStorage === 'memory' ? StorageType.Memory : StorageType.File,
      max_age: secondsToNanos(opts.eventsMaxAgeSeconds ?? 600),
      max_bytes: opts.eventsMaxBytes ?? 512 * 1024 * 1024,
      discard: DiscardPolicy.Old,
    },
    {
      name: STREAMS.usage,
      subjects: ['llm.usage.>'],
      // Interest: a record is deleted once the ledger has acked it (stored in the database). Kept
      // for the max age under limits retention it cost ~550 bytes of disk per request for 7 days
      // (docs/benchmarks.md, "nats-server under sustained load"). The ledger's durable consumer is
      // created with the stream, so a record never arrives with nobody interested in it.
      retention: RetentionPolicy.Interest,
      storage: StorageType.File,
      duplicate_window: secondsToNanos(120),
      // How long a record waits for a ledger that cannot store it (the database down).
      max_age: secondsToNanos(7 * 24 * 3600),
      discard: DiscardPolicy.Old,
    },
    {
      // Core publishes to llm.cancel.<id> are stored as they pass; nobody publishes differently.
      name: STREAMS.cancels,
      subjects: ['llm.cancel.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
      max_age: secondsToNanos(opts.cancelsMaxAgeSeconds ?? 900),
      max_msgs: 1_000_000,
      discard: DiscardPolicy.Old,
    },
    {
      name: STREAMS.results,
      subjects: ['llm.res.>'],
      // Work queue: a result is deleted once its consumer has stored it, and kept until then, with
      // or without a consumer. Not in LLM_EVENTS alone, whose age and byte limits are set for resume
      // and shared with every tenant's streams: a database down for longer than EVENTS_MAX_AGE_SECONDS
      // (or heavy streaming) lost results there, and their batches never finished.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      // In a cluster the final event is published with an id (worker/final-events.ts): stored once.
      duplicate_window: secondsToNanos(120),
      // As long as a usage record waits for the database.
      max_age: secondsToNanos(7 * 24 * 3600),
      discard: DiscardPolicy.Old,
    },
  ];
  // R3 on a 3-node cluster: a stream survives the loss of one server without losing an acked message.
  return streams.map((s) => ({ ...s, num_replicas }));
}

/**
 * Streams whose storage or retention differs from what `opts` would create: both are fixed when a
 * stream is created (retention moves from limits to interest only on nats-server 2.10 and later).
 */
export async function topologyDrift(jsm: JetStreamManager, opts: TopologyOptions): Promise<string[]> {
  const out: string[] = [];
  for (const cfg of streamConfigs(opts)) {
    const { config } = await jsm.streams.info(cfg.name);
    if (config.storage !== cfg.storage) out.push(`${cfg.name}: ${config.storage} storage (${cfg.storage} wanted)`);
    if (config.retention !== cfg.retention) out.push(`${cfg.name}: ${config.retention} retention (${cfg.retention} wanted)`);
  }
  return out;
}

/**
 * Options of every long-lived consume() of a durable consumer. A pull waits at the consumer's leader;
 * in a cluster, when that node dies, the pull dies with it, and nats.js notices only after two missed
 * idle heartbeats (expires / 2 each): 30 s with its default 30 s expiry, while the consumer delivers
 * nothing to this process (redelivered streams waited 15-41 s in cluster.test.ts). A 5 s expiry bounds
 * that at 5 s, for a pull and two heartbeats per consumer every 5 s when idle.
 */
export const consumeOptions = (maxMessages: number) => ({ max_messages: maxMessages, expires: 5_000 }) as const;

export const consumerNames = {
  worker: (provider: string, priority: Priority) => `worker-${provider}-${priority}`,
  ledger: 'ledger',
} as const;

export function consumerConfigs(
  opts: TopologyOptions,
): Array<{ stream: string; config: Partial<ConsumerConfig> & { durable_name: string } }> {
  const ackWait = secondsToNanos(opts.ackWaitSeconds ?? 30);
  const out: Array<{ stream: string; config: Partial<ConsumerConfig> & { durable_name: string } }> = [];
  for (const provider of opts.providers) {
    for (const priority of ['interactive', 'batch'] as const) {
      out.push({
        stream: STREAMS.requests,
        config: {
          durable_name: consumerNames.worker(provider, priority),
          filter_subject: subjects.request(provider, priority),
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: ackWait,
          max_deliver: opts.maxDeliver ?? 5,
          max_ack_pending: 20_000,
          max_waiting: 512,
        },
      });
    }
  }
  out.push({
    stream: STREAMS.usage,
    config: {
      durable_name: consumerNames.ledger,
      filter_subject: 'llm.usage.>',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: secondsToNanos(opts.ledgerAckWaitSeconds ?? 30),
      // Usage must never be dropped: redeliver until the database takes it.
      max_deliver: -1,
      max_ack_pending: 10_000,
      max_waiting: 512,
    },
  });
  out.push(...asyncConsumerConfigs());
  return out;
}

/**
 * The consumer a rescuer (services/all/rescuer.ts) reads a dead ingress's held requests with. Named,
 * so rescuers of the same ingress share it (each message goes to one of them); not durable: once no
 * rescuer pulls from it for a minute nats-server removes it, and what it had not acked stays stored.
 */
export function rescueConsumerConfig(ingressId: string, ackWaitSeconds: number): Partial<ConsumerConfig> & { name: string } {
  return {
    name: `rescue-${ingressId}`,
    filter_subject: subjects.heldOf(ingressId),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: secondsToNanos(ackWaitSeconds),
    inactive_threshold: secondsToNanos(60),
  };
}

/** Creates or updates every stream and consumer. Safe to run from every process at every start. */
export async function ensureTopology(jsm: JetStreamManager, opts: TopologyOptions): Promise<void> {
  for (const cfg of streamConfigs(opts)) {
    try {
      const { config: current } = await jsm.streams.info(cfg.name);
      // Storage cannot change on an existing stream. Retention can from limits to interest since
      // nats-server 2.10; 2.9 refuses it, and the stream keeps its own (topologyDrift says so).
      // nats.js types the update without `retention`, which the server takes.
      const { retention, storage: _s, ...mutable } = cfg;
      if (retention === RetentionPolicy.Interest && current.retention === RetentionPolicy.Limits) {
        const moved = await jsm.streams.update(cfg.name, { ...mutable, retention } as typeof mutable).then(
          () => true,
          () => false,
        );
        if (moved) continue;
      }
      await jsm.streams.update(cfg.name, mutable);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      try {
        await jsm.streams.add(cfg);
      } catch (addErr) {
        // Another process created it between our info and add: nats-server answers "already in use",
        // or "subjects overlap with an existing stream" while that creation is under way.
        const created = await jsm.streams.info(cfg.name).then(
          () => true,
          () => false,
        );
        if (!created) throw addErr;
      }
    }
  }
  for (const { stream, config } of consumerConfigs(opts)) {
    try {
      const existing = await jsm.consumers.info(stream, config.durable_name);
      const { durable_name: _d, filter_subject: _f, deliver_policy: _p, ...mutable } = config;
      // Every process runs this at start: touch a shared consumer only when its settings really
      // change, so a worker starting next to a crashed one never disturbs the dead one's pending
      // messages on their way to redelivery.
      const current = existing.config as unknown as Record<string, unknown>;
      if (Object.entries(mutable).some(([k, v]) => current[k] !== v)) await jsm.consumers.update(stream, config.durable_name, mutable);
    } catch (err) {
      if (!isConsumerNotFound(err)) throw err;
      try {
        await jsm.consumers.add(stream, config);
      } catch (addErr) {
        // Another process created it between our info and add.
        if (!isAlreadyExists(addErr)) throw addErr;
      }
    }
  }
}
