// `npm test`: format check, lint, typecheck, then the whole vitest suite against a throwaway
// nats-server and Postgres (installed first when missing and we are allowed to).
import { spawnSync } from 'node:child_process';
import { ensureNatsServer, ensurePostgres } from './ensure-services.mjs';

if (!process.env.NATS_URL) ensureNatsServer();
if (!process.env.TEST_DATABASE_URL) ensurePostgres();

const steps = [
  ['format', 'prettier', ['--check', '.']],
  ['lint', 'eslint', ['.']],
  ['typecheck', 'tsc', ['--noEmit']],
  // The benchmark's own helpers (result table, process-tree memory) are tested with node's runner,
  // and so is the gomodel-like peer (built with Go; skipped when Go is not installed).
  [
    'bench helpers',
    'node',
    [
      '--test',
      'bench/machine-cpu.test.ts',
      'bench/peer-table.test.ts',
      'bench/processes.test.ts',
      'bench/profile.test.ts',
      'bench/load.test.ts',
      'bench/gomodel-like.test.ts',
      'bench/syscalls.test.ts',
      'bench/upstream-go.test.ts',
      'bench/soak-trend.test.ts',
      'bench/machine-gauge.test.ts',
    ],
  ],
  ['tests', 'vitest', ['run', ...process.argv.slice(2)]],
];
for (const [name, cmd, args] of steps) {
  console.error(`\n[test] ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[test] ${name} failed`);
    process.exit(r.status ?? 1);
  }
}
