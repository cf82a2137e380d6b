// What one new Postgres connection costs: the pool closes connections idle for 30 s
// (shared/db/database.ts) and opens new ones when load returns, and each costs a backend fork,
// authentication and the first catalog reads. A throwaway cluster (the test harness's, trust auth),
// N connections opened, used for one query on the usage table and closed; CPU of the cluster's
// processes (reaped backends included) and of this process per connection.
//
//   node bench/pg-connect.ts          # BENCH_CONNECTIONS=300, two rounds
import pg from 'pg';
import { startPostgres } from '../test/harness/postgres.ts';
import { openDatabase } from '../shared/db/database.ts';
import { treeCpuSeconds } from './processes.ts';

const N = Number(process.env.BENCH_CONNECTIONS ?? 300);
const cluster = await startPostgres();
try {
  const url = await cluster.createDatabase('connect');
  await (await openDatabase({ url, migrate: true })).destroy();
  for (const round of [1, 2]) {
    const pg0 = treeCpuSeconds([cluster.pid()]);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('select count(*) from usage');
      await client.end();
    }
    const cpu = process.cpuUsage(cpu0);
    const postgresUs = ((treeCpuSeconds([cluster.pid()]) - pg0) * 1e6) / N;
    console.log(
      `round ${round}: ${N} connections, Postgres ${postgresUs.toFixed(0)} µs CPU each, this process ${((cpu.user + cpu.system) / N).toFixed(0)} µs, ${((performance.now() - t0) / N).toFixed(2)} ms wall`,
    );
  }
} finally {
  await cluster.destroy();
}
