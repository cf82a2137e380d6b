// LLM_USAGE -> Postgres. Messages are micro-batched into one transaction; a row is keyed by request
// id and inserted with ON CONFLICT DO NOTHING, and only rows actually inserted feed the daily rollup,
// so a redelivered or duplicated record never counts twice. While Postgres is down nothing is acked:
// the records wait in JetStream and land when it is back. A message the database refuses for what it
// holds (a malformed record) is terminated and logged, so it cannot hold the others back.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { PREPARED } from '../../shared/db/prepared.ts';
import type { Nats } from '../../shared/nats/connection.ts';
import { consumeOptions, consumerNames, STREAMS } from '../../shared/nats/topology.ts';
import type { Db } from '../../shared/db/database.ts';
import type { UsageRecord } from '../../shared/protocol/events.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { tracing } from '../../shared/telemetry/tracing.ts';
import { traceLedgerWrite } from './ledger-tracing.ts';
import { byFieldSet, NOT_STORED, USAGE_COLUMNS_HEADER } from '../../shared/nats/usage-message.ts';
import type { UsageStore } from '../worker/usage-publisher.ts';

export interface LedgerOptions {
  nats: Nats;
  db: Db;
  log: Logger;
  maxBatch?: number;
  lingerMs?: number;
}

export interface Ledger extends UsageStore {
  close(): Promise<void>;
  /** Records written since start (inserted, not counting duplicates), directly or from LLM_USAGE. */
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
    // Messages a statement refused for what they hold (not for the database being away): terminated,
    // so one bad message cannot hold the rest back forever.
    const refused = new Set<JsMsg>();
    for (let attempt = 0; ; attempt++) {
      try {
        log.trace({ messages: batch.length, attempt }, 'writing usage');
        inserted += await writeMessages(
          batch.filter((m) => !refused.has(m)),
          (m, err) => {
            refused.add(m);
            log.error({ err, seq: m.seq }, 'usage message cannot be stored; terminating it');
            m.term();
          },
        );
        log.trace({ messages: batch.length }, 'usage written');
        for (const m of batch) if (!refused.has(m)) m.ack();
        if (dbDown) log.info('database reachable again; usage backlog draining');
        dbDown = false;
        return;
      } catch (err) {
        if (!dbDown)
          log.warn({ err: (err as Error).message }, 'usage write failed; holding records in JetStream until the database is back');
        else log.debug({ err: (err as Error).message, attempt }, 'usage write failed again');
        dbDown = true;
        // Keep the messages alive while we wait, so JetStream does not hand them to another ledger.
        for (const m of batch) if (!refused.has(m)) m.working();
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** Math.min(attempt, 5))));
        if (closed) {
          for (const m of batch) if (!refused.has(m)) m.nak();
          return;
        }
      }
    }
  }

  /**
   * Writes the messages' records; returns how many rows were new. Messages whose header names their
   * fields go in as they are, one statement per field set; the others (an older producer's, or all of
   * them while tracing, whose spans need the records) are parsed, and so are the messages of a
   * statement that failed. A parsed statement refused for its data is split down to the message that
   * causes it, which goes to `refuse`. Any other error is thrown: the database is away, and the whole
   * batch is tried again (rows already in are skipped).
   */
  async function writeMessages(batch: JsMsg[], refuse: (m: JsMsg, err: unknown) => void): Promise<number> {
    let n = 0;
    const raw = new Map<string, JsMsg[]>();
    const parsed: JsMsg[] = [];
    for (const m of batch) {
      const columns = tracing.on ? undefined : m.headers?.get(USAGE_COLUMNS_HEADER);
      if (!columns) parsed.push(m);
      else {
        const group = raw.get(columns);
        if (group) group.push(m);
        else raw.set(columns, [m]);
      }
    }
    for (const [columns, messages] of raw) {
      try {
        n += await insertUsageJson(db, columns.split(','), joinArrays(messages.map((m) => dec.decode(m.data))));
      } catch {
        // Whatever failed (a refused value, a header naming a column that does not exist or twice),
        // the parsed path decides: it stores what it can, and fails again only if the database is away.
        parsed.push(...messages);
      }
    }
    if (parsed.length > 0) n += await writeParsed(parsed, refuse);
    return n;
  }

  async function writeParsed(batch: JsMsg[], refuse: (m: JsMsg, err: unknown) => void): Promise<number> {
    const byId = new Map<string, UsageRecord>();
    const readable: JsMsg[] = [];
    for (const m of batch) {
      try {
        const records = JSON.parse(dec.decode(m.data)) as UsageRecord[];
        if (!Array.isArray(records)) throw new Error('not a JSON array');
        for (const r of records) byId.set(r.request_id, r);
        readable.push(m);
      } catch (err) {
        refuse(m, err);
      }
    }
    const records = [...byId.values()];
    const writeStarted = Date.now();
    try {
      const n = await insertUsage(db, records);
      if (tracing.on) traceLedgerWrite(records, writeStarted, Date.now());
      return n;
    } catch (err) {
      if (!isRefusedData(err) || readable.length === 0) throw err;
      if (readable.length === 1) {
        refuse(readable[0]!, err);
        return 0;
      }
      // Halves until the message the database refuses is alone: log2(n) statements more, once.
      const half = Math.ceil(readable.length / 2);
      return (await writeParsed(readable.slice(0, half), refuse)) + (await writeParsed(readable.slice(half), refuse));
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
    // A worker in this process inserts its batches itself (services/all; UsagePublisher's store):
    // the same statement, so the same once-per-request-id rows and rollup.
    async store(columns, recordsJson, records) {
      const writeStarted = Date.now();
      inserted += await insertUsageJson(db, columns, recordsJson);
      if (tracing.on) traceLedgerWrite(records, writeStarted, Date.now());
    },
    async close() {
      closed = true;
      await messages.close().catch(() => {});
      await pump.catch(() => {});
      await scheduleFlush();
    },
  };
}

/** Column names come from record keys or a message header; checked because they are spliced into SQL. */
const COLUMN = /^[a-z_][a-z0-9_]*$/;

/** A message or record the ledger cannot store as it is (not a database outage). */
class UnstorableUsage extends Error {}

/**
 * Whether a statement failed for what it was given (bad values, a missing required field, a malformed
 * message), so retrying the same input can never succeed. SQLSTATE class 22 is data exceptions (bad
 * JSON, numbers, timestamps), 23502 a null in a NOT NULL column, 23514 a check constraint.
 */
function isRefusedData(err: unknown): boolean {
  if (err instanceof UnstorableUsage) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code === '23502' || code === '23514');
}

/**
 * Several messages' JSON arrays as one, without parsing the records: the statement parses them, and a
 * malformed message makes it fail (the ledger then parses each message to find it). Producers of
 * LLM_USAGE are the broker's own processes, as for every other stream.
 */
function joinArrays(texts: string[]): string {
  let records = '';
  for (const text of texts) {
    if (text.charCodeAt(0) !== 0x5b || text.charCodeAt(text.length - 1) !== 0x5d)
      throw new UnstorableUsage('usage message is not a JSON array');
    const inner = text.slice(1, -1);
    if (inner.trim() === '') continue;
    records = records ? `${records},${inner}` : inner;
  }
  return `[${records}]`;
}

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
  // The column list follows the fields, so a field added to UsageRecord lands without touching this;
  // a field that is not stored (the traceparent) is not in the list, and the statement ignores it.
  let inserted = 0;
  for (const { keys, items } of byFieldSet(records, (r) => r)) inserted += await insertUsageJson(db, keys, JSON.stringify(items));
  return inserted;
}

/**
 * insertUsage for records that are already a JSON array and all carry `columns` (a record's other
 * fields are ignored, one it lacks is null). A request id seen twice in the array is stored once.
 */
export async function insertUsageJson(db: Db, columns: string[], recordsJson: string): Promise<number> {
  for (const c of columns)
    if (!COLUMN.test(c) || NOT_STORED.has(c)) throw new UnstorableUsage(`usage record field ${JSON.stringify(c)} is not a column name`);
  const list = sql.raw(columns.join(', '));
  // Prepared (shared/db/prepared.ts): parsing and planning this statement cost Postgres more than
  // 32 rows do. The marker must open the text, with no whitespace before it.
  const { rows } = await sql<{ inserted: number }>`${sql.raw(PREPARED)}
    with new_rows as (
      insert into usage (${list})
      select ${list} from json_populate_recordset(null::usage, ${recordsJson}::json)
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
