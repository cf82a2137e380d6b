// What one usage row costs Postgres and the broker, and which part of the ledger's statement costs it:
// a throwaway Postgres cluster (the test harness's), batches of records shaped like the worker's, and
// the CPU time of the cluster's processes (from /proc, backends that exit included) and of this
// process around N batches, per row.
//
//   node bench/ledger-rows.ts                  # every variant, 200 batches of 256 rows
//   BENCH_VARIANTS=ledger,parse BENCH_BATCHES=100 BENCH_BATCH_ROWS=64 node bench/ledger-rows.ts
//   BENCH_PREPARED=0 ...                         # the statement unnamed (shared/db/prepared.ts off)
//
// Variants: `ledger` the shipped statement (insertUsageJson: insert, skip duplicates, daily rollup);
// `norollup` without the rollup; `noconflict` a plain insert; `parse` only json_populate_recordset;
// `unnest` the same rows as one array parameter per column (pg serialises the arrays); `send` only the
// JSON parameter's round trip. /proc counts in clock ticks (10 ms): keep batches × rows large.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { startPostgres } from '../test/harness/postgres.ts';
import { openDatabase, type Db } from '../shared/db/database.ts';
import { insertUsageJson } from '../services/ledger/ledger.ts';
import { storedColumns } from '../shared/nats/usage-message.ts';
import type { UsageRecord } from '../shared/protocol/events.ts';
import { usageRecord } from '../test/harness/usage-record.ts';
import { treeCpuSeconds } from './processes.ts';

const BATCHES = Number(process.env.BENCH_BATCHES ?? 200);
const ROWS = Number(process.env.BENCH_BATCH_ROWS ?? 256);
/** BENCH_PREPARED=0: the ledger's statement unnamed, parsed and planned every time (levers row "prepared"). */
const PREPARED = process.env.BENCH_PREPARED !== '0';
const ALL = ['ledger', 'norollup', 'noconflict', 'parse', 'unnest', 'send'] as const;
type Variant = (typeof ALL)[number];
const VARIANTS = (process.env.BENCH_VARIANTS?.split(',') ?? ALL) as Variant[];

/** The usage columns that are not text (shared/db/migrations.ts), for `unnest`'s typed arrays. */
const COLUMN_TYPES: Record<string, string> = {
  input_tokens: 'int',
  cached_input_tokens: 'int',
  output_tokens: 'int',
  reasoning_tokens: 'int',
  attempts: 'int',
  cost_usd: 'float8',
  received_at: 'timestamptz',
  first_token_at: 'timestamptz',
  completed_at: 'timestamptz',
  cache_hit: 'boolean',
};

const batch = (): UsageRecord[] =>
  Array.from({ length: ROWS }, () => usageRecord({ request_id: `chatcmpl-${randomUUID()}`, tenant_id: 'bench', key_id: 'key_bench' }));

async function run(db: Db, variant: Variant, records: UsageRecord[]): Promise<void> {
  const names = storedColumns(records[0]!).split(',');
  const json = JSON.stringify(records);
  const cols = sql.raw(names.join(', '));
  switch (variant) {
    case 'ledger':
      await insertUsageJson(db, names, json);
      return;
    case 'norollup':
      await sql`insert into usage (${cols}) select ${cols} from json_populate_recordset(null::usage, ${json}::json) on conflict (request_id) do nothing`.execute(
        db,
      );
      return;
    case 'noconflict':
      await sql`insert into usage (${cols}) select ${cols} from json_populate_recordset(null::usage, ${json}::json)`.execute(db);
      return;
    case 'parse':
      await sql`select count(*) from json_populate_recordset(null::usage, ${json}::json)`.execute(db);
      return;
    case 'unnest': {
      const arrays = names.map(
        (n) => sql`${records.map((r) => r[n as keyof UsageRecord] ?? null)}::${sql.raw(`${COLUMN_TYPES[n] ?? 'text'}[]`)}`,
      );
      await sql`select count(*) from unnest(${sql.join(arrays)})`.execute(db);
      return;
    }
    case 'send':
      await sql`select length(${json}::text)`.execute(db);
      return;
  }
}

const cluster = await startPostgres();
try {
  console.log(
    `ledger rows: ${BATCHES} batches of ${ROWS} rows per variant, each variant on a fresh database${PREPARED ? '' : ', unprepared'}`,
  );
  console.log('| variant | Postgres CPU µs/row | broker-side (this process) CPU µs/row | wall ms |');
  console.log('|---|---|---|---|');
  let n = 0;
  for (const variant of VARIANTS) {
    // A fresh database each: an insert into a table that earlier variants filled costs more.
    const db = await openDatabase({ url: await cluster.createDatabase(`rows_${++n}`), migrate: true, preparedStatements: PREPARED });
    for (let i = 0; i < 50; i++) await run(db, variant, batch()); // warm-up (JIT, plans, caches)
    const prepared = Array.from({ length: BATCHES }, batch); // records made outside the measurement
    const pg0 = treeCpuSeconds([cluster.pid()]);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const records of prepared) await run(db, variant, records);
    const cpu = process.cpuUsage(cpu0);
    const rows = BATCHES * ROWS;
    console.log(
      `| ${variant} | ${(((treeCpuSeconds([cluster.pid()]) - pg0) * 1e6) / rows).toFixed(1)} | ${((cpu.user + cpu.system) / rows).toFixed(1)} | ${Math.round(performance.now() - t0)} |`,
    );
    await db.destroy();
  }
} finally {
  await cluster.destroy();
}
