// LLM_USAGE -> Postgres. Messages are micro-batched into one transaction; a row is keyed by request
// id and inserted with ON CONFLICT DO NOTHING, and only rows actually inserted feed the daily rollup,
// so a redelivered or duplicated record never counts twice. While Postgres is down nothing is acked:
// the records wait in JetStream and land when it is back.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { sql } from 'kysely';
import type { Nats } from '../../shared/nats/connection.ts';
import { consumeOptions, consumerNames, STREAMS } from '../../shared/nats/topology.ts';
import type { Db } from '../../shared/db/database.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { tracing } from '../../shared/telemetry/tracing.ts';
import { traceLedgerWrite } from './ledger-tracing.ts';

export interface LedgerOptions {
  nats: Nats;
  db: Db;
  log: Logger;
  maxBatch?: number;
  lingerMs?: number;
}

export interface Ledger {
  close(): Promise<void>;
  /** Records written since start (inserted, not counting duplicates). */
  readonly inserted: number;
}

export async function startLedger(opts: LedgerOptions): Promise<Ledger> {
  const { nats, db, log } = opts;
  const maxBatch = opts.maxBatch ?? 256;
  // Each insert costs about the same whatever its size, and nothing waits for a usage row (budgets are
  // enforced in NATS KV): at 350 req/s a 50 ms linger cut the ledger's CPU by ~40% vs 10 ms
  // (docs/benchmarks.md, "ledger linger").
  const lingerMs = opts.lingerMs ?? 50;
  const consumer = await nats.js.consumers.get(STREAMS.usage, consumerNames.ledger);
  const messages: ConsumerMessages = await consumer.consume(consumeOptions(maxBatch * 2));
  let buffer: JsMsg[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let inserted = 0;
  let dbDown = false;
  const dec = new TextDecoder();

  const scheduleFlush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = buffer;
    buffer = [];
    flushing = flushing.then(() => write(batch)).catch((err) => log.error({ err }, 'usage flush failed'));
    return flushing;
  };

  async function write(batch: JsMsg[]): Promise<void> {
    if (batch.length === 0) return;
    const byId = new Map<string, UsageRecord>();
    for (const m of batch) {
      try {
        for (const r of JSON.parse(dec.decode(m.data)) as UsageRecord[]) byId.set(r.request_id, r);
      } catch (err) {
        log.error({ err, seq: m.seq }, 'unreadable usage message; terminating it');
        m.term();
      }
    }
    const records = [...byId.values()];
    for (let attempt = 0; ; attempt++) {
      try {
        log.trace({ records: records.length, attempt }, 'writing usage');
        const writeStarted = Date.now();
        inserted += await insertUsage(db, records);
        if (tracing.on) traceLedgerWrite(records, writeStarted, Date.now());
        log.trace({ records: records.length }, 'usage written');
        for (const m of batch) m.ack();
        if (dbDown) log.info('database reachable again; usage backlog draining');
        dbDown = false;
        return;
      } catch (err) {
        if (!dbDown)
          log.warn({ err: (err as Error).message }, 'usage write failed; holding records in JetStream until the database is back');
        else log.debug({ err: (err as Error).message, attempt }, 'usage write failed again');
        dbDown = true;
        // Keep the messages alive while we wait, so JetStream does not hand them to another ledger.
        for (const m of batch) m.working();
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** Math.min(attempt, 5))));
        if (closed) {
          for (const m of batch) m.nak();
          return;
        }
      }
    }
  }

  let closed = false;
  const pump = (async () => {
    for await (const m of messages) {
      buffer.push(m);
      if (buffer.length >= maxBatch) await scheduleFlush();
      else if (!timer) timer = setTimeout(() => void scheduleFlush(), lingerMs);
    }
  })();

  return {
    get inserted() {
      return inserted;
    },
    async close() {
      closed = true;
      await messages.close().catch(() => {});
      await pump.catch(() => {});
      await scheduleFlush();
    },
  };
}

/** Column names come from our own UsageRecord keys; checked anyway because they are spliced into SQL. */
const COLUMN = /^[a-z_][a-z0-9_]*$/;
/** Record fields that are not columns (a tracing context that only travels with the record). */
const NOT_STORED = new Set(['traceparent']);

/**
 * Inserts records once each and rolls the new ones into usage_daily; returns how many were new.
 * One statement per field set, one round trip each: the records travel as one JSON parameter expanded
 * by json_populate_recordset (no per-value parameters to build), the usage insert skips request ids
 * already present, and only the rows it returned feed the rollup, so a redelivered record never counts
 * twice. Each statement is atomic; if a later one fails the batch is redelivered and the rows already
 * written are skipped as duplicates, so no explicit transaction is needed.
 */
export async function insertUsage(db: Db, records: UsageRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  // Producers differ in which optional fields they send (the worker, the ingress for cache hits): a
  // field left out must take its column default, not null, so each field set is inserted on its own.
  // The column list follows the fields, so a field added to UsageRecord lands without touching this.
  const byFields = new Map<string, { columns: string[]; rows: Record<string, unknown>[] }>();
  for (const record of records) {
    const row: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) if (!NOT_STORED.has(k) && v !== undefined) row[k] = v;
    const columns = Object.keys(row);
    const signature = columns.join(',');
    let group = byFields.get(signature);
    if (!group) byFields.set(signature, (group = { columns, rows: [] }));
    group.rows.push(row);
  }
  let inserted = 0;
  for (const { columns, rows } of byFields.values()) inserted += await insertGroup(db, columns, rows);
  return inserted;
}

async function insertGroup(db: Db, columns: string[], records: Record<string, unknown>[]): Promise<number> {
  for (const c of columns) if (!COLUMN.test(c)) throw new Error(`usage record field ${JSON.stringify(c)} is not a column name`);
  const list = sql.raw(columns.join(', '));
  const { rows } = await sql<{ inserted: number }>`
    with new_rows as (
      insert into usage (${list})
      select ${list} from json_populate_recordset(null::usage, ${JSON.stringify(records)}::json)
      on conflict (request_id) do nothing
      returning tenant_id, model, received_at, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd
    ), rollup as (
      insert into usage_daily as d (day, tenant_id, model, requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd)
      select (received_at at time zone 'UTC')::date, tenant_id, model, count(*), sum(input_tokens), sum(cached_input_tokens),
             sum(output_tokens), sum(reasoning_tokens), sum(cost_usd)
      from new_rows group by 1, 2, 3
      on conflict (day, tenant_id, model) do update set
        requests = d.requests + excluded.requests,
        input_tokens = d.input_tokens + excluded.input_tokens,
        cached_input_tokens = d.cached_input_tokens + excluded.cached_input_tokens,
        output_tokens = d.output_tokens + excluded.output_tokens,
        reasoning_tokens = d.reasoning_tokens + excluded.reasoning_tokens,
        cost_usd = d.cost_usd + excluded.cost_usd
      returning 1
    )
    select count(*)::int as inserted from new_rows`.execute(db);
  return rows[0]?.inserted ?? 0;
}
