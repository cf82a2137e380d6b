// The batch runner: executes OpenAI-shaped batches through the same JetStream request path as
// interactive traffic, at `batch` priority. Any number of runners can run side by side:
// - a batch is driven by the runner holding its lease (Postgres row, renewed; another runner takes
//   over once it lapses), which publishes the input lines in order with request id
//   `<batchId>-<index>` (JetStream dedupe + ledger ON CONFLICT make a re-published line run and bill
//   once), keeping at most BATCH_WINDOW lines queued or running, and records its cursor;
// - results come back on `llm.res.batch.<requestId>` (LLM_RESULTS, kept until stored) and are
//   collected by one shared durable consumer (`batch-results`) into batch_results, so they are not
//   lost while no runner is alive or the database is down;
// - when every line has a result the batch is finalized: output/error files written and the batch
//   closed in one transaction.
// - content guardrails of the batch's tenant and key apply per line as on POST /v1/chat/completions:
//   pre_call here (a blocked line fails alone, a masked one is published masked), during_call and
//   post_call in the worker (names in the envelope).
import { randomBytes } from 'node:crypto';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { sql } from 'kysely';
import type { Nats } from '../../shared/nats/connection.ts';
import { asyncConsumerNames, consumeOptions, EVENT_OWNERS, requestIdOfResult, STREAMS, subjects } from '../../shared/nats/topology.ts';
import type { Db } from '../../shared/db/database.ts';
import { readLines, type Line } from '../../shared/db/files.ts';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { publishRequest } from '../ingress/dispatcher.ts';
import { IngressGuardrails, type GuardrailPrincipal } from '../ingress/guardrails.ts';
import { GuardrailRegistry } from '../../shared/guardrails/registry.ts';
import { attachmentsOf } from '../../shared/db/guardrail-attachments.ts';
import type { ConfigReload } from '../../shared/runtime/config-reload.ts';
import { resolveRoute } from '../ingress/routing.ts';
import { BATCH_ENDPOINTS, lineRequestId, parseStoredLine } from './lines.ts';
import { StepRetry } from './step-retry.ts';
import { registerBatchProgress } from './batch-metrics.ts';
import { metrics } from '../../shared/telemetry/metrics.ts';
import {
  ACTIVE_STATUSES,
  applyResults,
  type StoredCounts,
  eventToLineResult,
  finalizeBatch,
  giveUpBatch,
  parseLineRequestId,
  type BatchRow,
  type BatchStatus,
  type LineResult,
} from './store.ts';

export interface BatchRunnerOptions {
  config: SwitchyardConfig;
  nats: Nats;
  db: Db;
  log: Logger;
  /** How often a batch's driver re-reads its progress. */
  pollMs?: number;
  /**
   * How often the runner looks for batches to claim without being told: a batch created through the
   * ingress is announced (`subjects.batchCreated`) and claimed at once; this finds the rest (leases
   * that lapsed when their runner died, an announcement lost). At 200 ms, the claim query was most of
   * what an idle broker did (docs/benchmarks.md, levers row "batchclaim").
   */
  claimMs?: number;
  /** Batches one runner drives at once. */
  maxActive?: number;
  /** SIGHUP: guardrail definitions follow the reloaded config file. */
  reload?: ConfigReload;
}

export interface BatchRunner {
  readonly runnerId: string;
  close(): Promise<void>;
}

const PAGE = 512;
const dec = new TextDecoder();

export async function startBatchRunner(opts: BatchRunnerOptions): Promise<BatchRunner> {
  const { config, nats, db, log } = opts;
  registerBatchProgress(db);
  const runnerId = `run${randomBytes(6).toString('hex')}`;
  const pollMs = opts.pollMs ?? 200;
  const claimMs = opts.claimMs ?? 2_000;
  const maxActive = opts.maxActive ?? 8;
  const leaseMs = config.BATCH_LEASE_SECONDS * 1000;
  const driving = new Map<string, { lost: boolean; done: Promise<void> }>();
  let closing = false;
  const registry = new GuardrailRegistry(config.file ?? null, { log });
  // SIGHUP: guardrail definitions follow the file, as in the ingress and the worker.
  const stopReloading = opts.reload?.register(registry.reloadHook('batch guardrails'));
  const guardrails = new IngressGuardrails(registry, nats.js, log);

  // ---- results: LLM_RESULTS (llm.res.batch.>) -> batch_results ----
  const consumer = await nats.js.consumers.get(STREAMS.results, asyncConsumerNames.batchResults);
  const messages: ConsumerMessages = await consumer.consume(consumeOptions(2048));
  let buffer: Array<{ msg: JsMsg; result: LineResult | null }> = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let flushing = Promise.resolve();
  const flush = () => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    const batch = buffer;
    buffer = [];
    // Caught, so one failed store cannot leave `flushing` rejected and skip every later flush.
    flushing = flushing.then(() => storeResults(batch)).catch((err: unknown) => log.error({ err }, 'storing batch results failed'));
    return flushing;
  };
  async function storeResults(batch: Array<{ msg: JsMsg; result: LineResult | null }>): Promise<void> {
    if (batch.length === 0) return;
    const results = batch.flatMap((b) => (b.result ? [b.result] : []));
    for (let attempt = 0; ; attempt++) {
      try {
        if (results.length) countStored(await applyResults(db, results));
        for (const b of batch) b.msg.ack();
        return;
      } catch (err) {
        log.warn({ err: (err as Error).message, attempt }, 'storing batch results failed; retrying');
        for (const b of batch) b.msg.working();
        if (closing) {
          for (const b of batch) b.msg.nak();
          return;
        }
        await sleep(Math.min(5_000, 200 * 2 ** Math.min(attempt, 5)));
      }
    }
  }
  const resultsPump = (async () => {
    for await (const msg of messages) {
      let result: LineResult | null;
      try {
        result = eventToLineResult(requestIdOfResult(msg.subject), JSON.parse(dec.decode(msg.data)) as StreamEvent);
      } catch {
        result = null; // unreadable: nothing to store
      }
      buffer.push({ msg, result });
      if (buffer.length >= 256) await flush();
      else if (!flushTimer) flushTimer = setTimeout(() => void flush(), 20);
    }
  })();

  // ---- leases: which batches this runner drives ----
  async function claim(): Promise<void> {
    const slots = maxActive - driving.size;
    if (slots <= 0) return;
    const rows = await sql<{ id: string }>`
      update batches set lease_owner = ${runnerId}, lease_until = now() + ${`${leaseMs} milliseconds`}::interval
      where id in (
        select id from batches
        where status in (${sql.join(ACTIVE_STATUSES)}) and (lease_until is null or lease_until < now())
        order by seq limit ${slots} for update skip locked)
      returning id`.execute(db);
    for (const { id } of rows.rows) {
      if (driving.has(id)) continue;
      const state = { lost: false, done: Promise.resolve() };
      driving.set(id, state);
      state.done = drive(id, state)
        .catch((err) => log.error({ err, batchId: id }, 'batch driver failed'))
        .finally(() => {
          driving.delete(id);
          requestClaim(); // a slot is free: a batch waiting for one need not wait for the next poll
        });
    }
  }

  async function renew(): Promise<void> {
    if (driving.size === 0) return;
    const ids = [...driving.keys()];
    const rows = await db
      .updateTable('batches')
      .set({ lease_until: sql`now() + ${`${leaseMs} milliseconds`}::interval` })
      .where('lease_owner', '=', runnerId)
      .where('id', 'in', ids)
      .returning('id')
      .execute();
    const kept = new Set(rows.map((r) => r.id));
    for (const id of ids) if (!kept.has(id)) driving.get(id)!.lost = true;
  }

  // One claim at a time; a request while one runs is served by one more right after it.
  let claiming: Promise<void> | null = null;
  let claimAgain = false;
  const requestClaim = (): void => {
    if (closing) return;
    if (claiming) {
      claimAgain = true;
      return;
    }
    claiming = claim()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'batch claim failed'))
      .finally(() => {
        claiming = null;
        if (claimAgain) {
          claimAgain = false;
          requestClaim();
        }
      });
  };
  const claimTimer = setInterval(requestClaim, claimMs);
  const createdSub = nats.nc.subscribe(subjects.batchCreated, { callback: () => requestClaim() });
  const renewTimer = setInterval(() => {
    if (!closing) void renew().catch((err) => log.warn({ err: (err as Error).message }, 'batch lease renewal failed'));
  }, leaseMs / 3);
  requestClaim();

  // ---- driving one batch ----
  async function drive(batchId: string, state: { lost: boolean }): Promise<void> {
    let lines: AsyncGenerator<Line> | null = null;
    let linesAt = 0; // index of the last line taken from `lines`
    const retry = new StepRetry(config.BATCH_STEP_MAX_ATTEMPTS, config.BATCH_STEP_RETRY_MS);
    let lastStepFailed = false;
    while (!closing && !state.lost) {
      if (!lastStepFailed) retry.succeeded();
      lastStepFailed = false;
      const b = await db.selectFrom('batches').selectAll().where('id', '=', batchId).executeTakeFirst();
      if (!b || b.lease_owner !== runnerId) return;
      const expired = new Date(b.expires_at).getTime() <= Date.now();
      try {
        switch (b.status) {
          case 'validating': {
            const file = await db
              .selectFrom('files')
              .select('id')
              .where('id', '=', b.input_file_id)
              .where('deleted_at', 'is', null)
              .executeTakeFirst();
            const next = file
              ? { status: 'in_progress', in_progress_at: new Date() }
              : {
                  status: 'failed',
                  failed_at: new Date(),
                  errors: JSON.stringify({
                    object: 'list',
                    data: [{ code: 'invalid_file', message: 'The input file no longer exists.', param: 'input_file_id', line: null }],
                  }),
                };
            await db.updateTable('batches').set(next).where('id', '=', batchId).where('status', '=', 'validating').execute();
            if (!file) return;
            continue;
          }
          case 'in_progress': {
            if (expired) {
              await finalizeBatch(db, batchId, 'in_progress', 'expired');
              return;
            }
            const done = b.completed + b.failed;
            if (b.dispatched < b.total) {
              const room = Math.min(config.BATCH_WINDOW - (b.dispatched - done), PAGE, b.total - b.dispatched);
              if (room > 0) {
                if (!lines || linesAt !== b.dispatched) {
                  await lines?.return(undefined);
                  lines = readLines(db, b.input_file_id);
                  linesAt = 0;
                }
                const page: Line[] = [];
                while (page.length < room) {
                  const n = await lines.next();
                  if (n.done) break;
                  linesAt = n.value.index;
                  if (n.value.index > b.dispatched) page.push(n.value);
                }
                await dispatchPage(b, page);
                continue;
              }
            } else if (done >= b.total) {
              await db
                .updateTable('batches')
                .set({ status: 'finalizing', finalizing_at: new Date() })
                .where('id', '=', batchId)
                .where('status', '=', 'in_progress')
                .execute();
              continue;
            }
            break;
          }
          case 'finalizing':
            await finalizeBatch(db, batchId, 'finalizing', 'completed');
            return;
          case 'cancelling': {
            // Lines already queued or running finish (at most BATCH_WINDOW); then the batch closes.
            const drained = b.completed + b.failed >= b.dispatched;
            const graceOver = Date.now() - new Date(b.cancelling_at ?? Date.now()).getTime() > config.BATCH_CANCEL_GRACE_MS;
            if (drained || graceOver || expired) {
              await finalizeBatch(db, batchId, 'cancelling', 'cancelled');
              return;
            }
            break;
          }
          default:
            return; // terminal
        }
      } catch (err) {
        lastStepFailed = true;
        await lines?.return(undefined).catch(() => {});
        lines = null;
        const failure = retry.failed();
        const cancelGraceOver =
          b.status === 'cancelling' && Date.now() - new Date(b.cancelling_at ?? Date.now()).getTime() > config.BATCH_CANCEL_GRACE_MS;
        if (failure.giveUp || cancelGraceOver) {
          const message = `Batch processing failed after ${failure.attempt} attempts while ${b.status}: ${(err as Error).message}`;
          const ended = await giveUpBatch(db, batchId, b.status as BatchStatus, { code: 'batch_failed', message });
          if (ended) {
            log.error({ err, batchId, status: b.status, attempts: failure.attempt, ended }, 'batch step failed; giving up');
            return;
          }
          continue; // the status changed meanwhile (e.g. cancelled): retry in the new state
        }
        // Said once per failing streak; the give-up above is the second and last line.
        if (failure.attempt === 1) {
          log.warn({ err: (err as Error).message, batchId, status: b.status, retryInMs: failure.delayMs }, 'batch step failed; retrying');
        }
        await sleep(failure.delayMs);
        continue;
      }
      await sleep(pollMs);
    }
    await lines?.return(undefined);
  }

  async function dispatchPage(b: BatchRow, page: Line[]): Promise<void> {
    if (page.length === 0) return;
    const kind = BATCH_ENDPOINTS[b.endpoint as keyof typeof BATCH_ENDPOINTS] ?? 'chat';
    // Read once per page: an attachment changed mid-batch applies from the next page on. With no
    // guardrail defined nothing can apply, and the page costs no query.
    const principal: GuardrailPrincipal = {
      tenantId: b.tenant_id,
      keyId: b.key_id ?? '',
      ...(registry.size > 0 ? await attachmentsOf(db, b.tenant_id, b.key_id) : {}),
    };
    const rejected: LineResult[] = [];
    await Promise.all(
      page.map(async (line) => {
        const { body } = parseStoredLine(line.text);
        const requestId = lineRequestId(b.id, line.index);
        // Batch lines run as one JSON answer each, whatever the line asked for.
        const { stream: _s, stream_options: _o, ...rest } = body;
        let route;
        let queued: Record<string, unknown> = rest;
        let workerGuardrails: readonly string[] | undefined;
        try {
          route = resolveRoute(body.model, config.DEFAULT_PROVIDER, config.file);
          // Embeddings answers are vectors: post_call has nothing to read there (docs/guardrails.md).
          const checked = await guardrails.check(principal, requestId, rest, body.model, route, log, { kind, batchId: b.id });
          if (checked?.masked) queued = checked.masked;
          workerGuardrails = checked?.workerGuardrails;
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          rejected.push({ ...parseLineRequestId(requestId)!, statusCode: err.status, body: JSON.stringify(err.toBody()) });
          return;
        }
        try {
          await publishRequest(nats, EVENT_OWNERS.batch, {
            requestId,
            principal: { tenantId: b.tenant_id, keyId: b.key_id ?? '' },
            kind,
            route,
            publicModel: body.model,
            stream: false,
            body: JSON.stringify(queued),
            priority: 'batch',
            batchId: b.id,
            ...(workerGuardrails?.length ? { guardrails: workerGuardrails } : {}),
          });
        } catch (err) {
          // Too large for the NATS server now (uploaded under a larger max_payload): this line can never
          // be queued, so it fails alone (413 in the error file) instead of stalling the whole batch.
          if (!(err instanceof ApiError) || err.status !== 413) throw err;
          rejected.push({ ...parseLineRequestId(requestId)!, statusCode: err.status, body: JSON.stringify(err.toBody()) });
        }
      }),
    );
    if (rejected.length) countStored(await applyResults(db, rejected));
    const end = page[page.length - 1]!.index;
    await db
      .updateTable('batches')
      .set({ dispatched: end })
      .where('id', '=', b.id)
      .where('lease_owner', '=', runnerId)
      .where('dispatched', '<', end)
      .execute();
  }

  log.info({ runnerId }, 'batch runner consuming');
  return {
    runnerId,
    async close() {
      closing = true;
      stopReloading?.();
      clearInterval(claimTimer);
      clearInterval(renewTimer);
      createdSub.unsubscribe();
      await claiming;
      await Promise.all([...driving.values()].map((d) => d.done));
      await messages.close().catch(() => {});
      await resultsPump.catch(() => {});
      await flush();
      // Hand the batches over at once instead of at lease expiry.
      await db
        .updateTable('batches')
        .set({ lease_owner: null, lease_until: null })
        .where('lease_owner', '=', runnerId)
        .execute()
        .catch(() => {});
    },
  };
}

/** switchyard_batch_lines_total counts the lines stored, not the results read: a duplicate counts once. */
function countStored(stored: StoredCounts): void {
  if (stored.completed) metrics.batchLines.inc({ outcome: 'completed' }, stored.completed);
  if (stored.failed) metrics.batchLines.inc({ outcome: 'failed' }, stored.failed);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
