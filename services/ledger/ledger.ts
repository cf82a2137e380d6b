// LLM_USAGE -> Postgres. Messages are micro-batched into one transaction; a row is keyed by request
// id and inserted with ON CONFLICT DO NOTHING, and only rows actually inserted feed the daily rollup,
// so a redelivered or duplicated record never counts twice. While Postgres is down nothing is acked:
// the records wait in JetStream and land when it is back.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { sql } from 'kysely';
import type { Nats } from '../../shared/nats/connection.ts';
import { consumerNames, STREAMS } from '../../shared/nats/topology.ts';
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
  const lingerMs = opts.lingerMs ?? 10;
  const consumer = await nats.js.consumers.get(STREAMS.usage, consumerNames.ledger);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: maxBatch * 2 });
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

/** Inserts records once each; returns how many were new. */
export async function insertUsage(db: Db, records: UsageRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .insertInto('usage')
      .values(records.map(({ traceparent: _traceparent, ...row }) => row))
      .onConflict((oc) => oc.column('request_id').doNothing())
      .returning([
        'request_id',
        'tenant_id',
        'model',
        'received_at',
        'input_tokens',
        'cached_input_tokens',
        'output_tokens',
        'reasoning_tokens',
        'cost_usd',
      ])
      .execute();
    // Roll up only what was inserted now.
    const groups = new Map<
      string,
      {
        day: string;
        tenant_id: string;
        model: string;
        requests: number;
        input: number;
        cached: number;
        output: number;
        reasoning: number;
        cost: number;
      }
    >();
    for (const r of rows) {
      const day = new Date(r.received_at).toISOString().slice(0, 10);
      const k = `${day}|${r.tenant_id}|${r.model}`;
      let g = groups.get(k);
      if (!g)
        groups.set(
          k,
          (g = { day, tenant_id: r.tenant_id, model: r.model, requests: 0, input: 0, cached: 0, output: 0, reasoning: 0, cost: 0 }),
        );
      g.requests++;
      g.input += r.input_tokens;
      g.cached += r.cached_input_tokens;
      g.output += r.output_tokens;
      g.reasoning += r.reasoning_tokens;
      g.cost += Number(r.cost_usd);
    }
    for (const g of groups.values()) {
      await trx
        .insertInto('usage_daily')
        .values({
          day: g.day,
          tenant_id: g.tenant_id,
          model: g.model,
          requests: g.requests,
          input_tokens: g.input,
          cached_input_tokens: g.cached,
          output_tokens: g.output,
          reasoning_tokens: g.reasoning,
          cost_usd: g.cost,
        })
        .onConflict((oc) =>
          oc.columns(['day', 'tenant_id', 'model']).doUpdateSet({
            requests: sql`usage_daily.requests + excluded.requests`,
            input_tokens: sql`usage_daily.input_tokens + excluded.input_tokens`,
            cached_input_tokens: sql`usage_daily.cached_input_tokens + excluded.cached_input_tokens`,
            output_tokens: sql`usage_daily.output_tokens + excluded.output_tokens`,
            reasoning_tokens: sql`usage_daily.reasoning_tokens + excluded.reasoning_tokens`,
            cost_usd: sql`usage_daily.cost_usd + excluded.cost_usd`,
          }),
        )
        .execute();
    }
    return rows.length;
  });
}
