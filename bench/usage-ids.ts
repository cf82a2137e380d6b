// What the request id's shape costs the usage ledger as its table grows: the ledger's own statement
// (insertUsageJson: insert, skip duplicates, daily rollup) in batches of the worker's size, with the
// ids the ingress makes now (services/ingress/request-ids.ts: milliseconds, then a sequence) against
// the random ids it made before, each on a fresh database. The id is the table's primary key: random
// ids land on random pages of its index, time-ordered ones at its right edge.
//
//   node bench/usage-ids.ts                               # the embedded default (PGlite, 4 MB of buffers)
//   BENCH_BACKEND=postgres node bench/usage-ids.ts        # a throwaway Postgres cluster (128 MB)
//   BENCH_ROWS=600000 BENCH_STEP=100000 BENCH_BATCH_ROWS=32 (the worker's batch) BENCH_VARIANTS=random,ordered (the order run)
//
// CPU is this process's (the embedded database's thread included) plus, on Postgres, the cluster's.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresCluster } from '../test/harness/postgres.ts';
import { openDatabase, type Db } from '../shared/db/database.ts';
import { insertUsageJson } from '../services/ledger/ledger.ts';
import { storedColumns } from '../shared/nats/usage-message.ts';
import { requestIdMaker } from '../services/ingress/request-ids.ts';
import { usageRecord } from '../test/harness/usage-record.ts';
import { treeCpuSeconds } from './processes.ts';

const BACKEND = process.env.BENCH_BACKEND === 'postgres' ? 'postgres' : 'embedded';
const TOTAL = Number(process.env.BENCH_ROWS ?? 600_000);
const STEP = Number(process.env.BENCH_STEP ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH_ROWS ?? 32);

const INGRESS = `ing${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const ID_MAKERS: Record<string, () => string> = {
  random: () => `req_${INGRESS.slice(3)}${randomUUID().replaceAll('-', '').slice(12)}`,
  ordered: requestIdMaker(INGRESS),
};
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'random,ordered').split(',').filter((v) => v in ID_MAKERS);

async function fill(db: Db, makeId: () => string, cluster: PostgresCluster | null): Promise<string[]> {
  const tenants = Array.from({ length: 8 }, (_, i) => `tenant_${i}`);
  const lines: string[] = [];
  let rows = 0;
  while (rows < TOTAL) {
    const cpu0 = process.cpuUsage();
    const pg0 = cluster ? treeCpuSeconds([cluster.pid()]) : 0;
    const t0 = performance.now();
    for (let step = 0; step < STEP; step += BATCH) {
      const records = Array.from({ length: BATCH }, (_, i) =>
        usageRecord({ request_id: makeId(), tenant_id: tenants[i % tenants.length]!, key_id: 'key_bench' }),
      );
      await insertUsageJson(db, storedColumns(records[0]!).split(','), JSON.stringify(records));
    }
    rows += STEP;
    const cpu = process.cpuUsage(cpu0);
    const own = (cpu.user + cpu.system) / STEP;
    const pg = cluster ? ((treeCpuSeconds([cluster.pid()]) - pg0) * 1e6) / STEP : 0;
    lines.push(`${(own + pg).toFixed(1)} µs (${(((performance.now() - t0) * 1000) / STEP).toFixed(1)} µs wall)`);
    console.log(`  ${rows.toLocaleString('en')} rows: CPU ${lines.at(-1)} per row over the last ${STEP.toLocaleString('en')}`);
  }
  return lines;
}

const cluster = BACKEND === 'postgres' ? await startPostgres() : null;
const results: Record<string, string[]> = {};
try {
  console.log(`usage ids on ${BACKEND}: ${TOTAL.toLocaleString('en')} rows in batches of ${BATCH}, per variant on a fresh database`);
  let n = 0;
  for (const variant of VARIANTS) {
    const makeId = ID_MAKERS[variant]!;
    console.log(`${variant}:`);
    const dir = cluster ? null : mkdtempSync(join(tmpdir(), 'usage-ids-'));
    const db = cluster
      ? await openDatabase({ url: await cluster.createDatabase(`ids_${++n}`), migrate: true })
      : await openDatabase({ embeddedDir: dir!, migrate: true });
    try {
      results[variant] = await fill(db, makeId, cluster);
    } finally {
      await db.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(
    `\n| rows | ${Object.keys(results).join(' | ')} |\n|---|${Object.keys(results)
      .map(() => '---|')
      .join('')}`,
  );
  for (let i = 0; i < TOTAL / STEP; i++)
    console.log(
      `| ${((i + 1) * STEP).toLocaleString('en')} | ${Object.values(results)
        .map((r) => r[i])
        .join(' | ')} |`,
    );
} finally {
  await cluster?.stop();
}
