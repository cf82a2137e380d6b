// Finds (or installs) the two outside services Switchyard needs on a bare machine: nats-server,
// and for tests the Postgres server binaries. Used by `npm start` and `npm test`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;
let aptUpdated = false;

function apt(pkg) {
  if (!isRoot || !has('apt-get')) return false;
  console.error(`[switchyard] installing ${pkg} with apt-get ...`);
  if (!aptUpdated) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    aptUpdated = true;
  }
  return (
    spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
      .status === 0
  );
}

export function findNatsServer() {
  // An explicit build wins (e.g. nats-server 2.15, see docs/benchmarks.md "Performance levers").
  if (process.env.NATS_SERVER_BIN) {
    if (existsSync(process.env.NATS_SERVER_BIN)) return process.env.NATS_SERVER_BIN;
    throw new Error(`NATS_SERVER_BIN=${process.env.NATS_SERVER_BIN} does not exist`);
  }
  const local = resolve('.data/bin/nats-server');
  if (existsSync(local)) return local;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

/**
 * The environment of the nats-server that `npm start` (and the test and benchmark harness) runs
 * beside Switchyard: Go's scheduler limited to one thread running goroutines (GOMAXPROCS=1) unless
 * the operator set GOMAXPROCS. Its only client is one Node process whose CPU per request is ~6x
 * nats-server's, so a second Go thread adds no throughput; it adds wake-ups of an idle thread
 * spinning for work on the cores the broker needs (docs/benchmarks.md, lever "natsprocs1":
 * nats-server -17% CPU per request at 600 req/s, -22% at max load).
 * And GOGC=50 unless the operator set GOGC: Go's heap grows to 1.5x what survived its last
 * collection instead of 2x. What survives is mostly the file store's index of the resume buffer, a
 * subject per stream kept for EVENTS_MAX_AGE_SECONDS, so the headroom grows with it (lever
 * "natsgogc50, again": nats-server's peak 47 MB against 57, its CPU per request within the noise).
 */
export function embeddedNatsEnv(env = process.env) {
  return { ...env, GOMAXPROCS: env.GOMAXPROCS || '1', GOGC: env.GOGC || '50' };
}

export function ensureNatsServer() {
  let bin = findNatsServer();
  if (bin) return bin;
  if (apt('nats-server')) bin = findNatsServer();
  if (!bin && has('go')) {
    // Without apt: build it from the Go module proxy into .data/bin. 2.15.3 costs 12-17% less CPU
    // per request than Debian's 2.9.10 (docs/benchmarks.md, levers row "nats215, again").
    console.error('[switchyard] building nats-server with `go install` into .data/bin ...');
    mkdirSync('.data/bin', { recursive: true });
    spawnSync('go', ['install', 'github.com/nats-io/nats-server/v2@v2.15.3'], {
      stdio: 'inherit',
      env: { ...process.env, GOBIN: resolve('.data/bin') },
    });
    bin = findNatsServer();
  }
  if (!bin) {
    throw new Error(
      'nats-server is missing. Install it with `apt-get install -y nats-server` (Debian/Ubuntu), ' +
        '`go install github.com/nats-io/nats-server/v2@latest`, or point NATS_URL at a running JetStream-enabled server.',
    );
  }
  return bin;
}

export function findPostgresBin() {
  const cfg = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (cfg.status === 0 && existsSync(join(cfg.stdout.trim(), 'initdb'))) return cfg.stdout.trim();
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    for (const v of readdirSync(base).sort().reverse()) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  return which.status === 0 ? join(which.stdout.trim(), '..') : null;
}

export function ensurePostgres() {
  if (findPostgresBin()) return;
  if (apt('postgresql') && findPostgresBin()) return;
  throw new Error(
    'Postgres server binaries are missing. Install them with `apt-get install -y postgresql`, or set TEST_DATABASE_URL to a database the tests may use.',
  );
}
