// The LiteLLM proxy (Python), in a venv under .data/peers/litellm, installed on first use from PyPI.
// Settings are the ones LiteLLM documents for throughput without extra infrastructure: one uvicorn
// worker per core, no database (no virtual keys, no spend logs), and the model cost map read from the
// package instead of fetched at start. A master key is required (the proxy refuses to start without
// one), so clients authenticate as they do against Switchyard.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { freePort } from '../../test/harness/ports.ts';
import { spawnGroup, stopGroup, untilAnswering, type PeerGateway, type RunningPeer } from './gateway.ts';

export const LITELLM_VERSION = '1.108.0';
// Not in litellm[proxy], but imported by the proxy's auth error path even without a database: without
// it a request with a missing key gets a 500 traceback instead of a 401.
const PRISMA_VERSION = '0.15.0';
const VENV = '.data/peers/litellm';
const BIN = `${VENV}/bin/litellm`;
// Every package of a working install, pinned: newer companion packages than this release was tested
// with are not all served here, and an unpinned resolve would change the peer between runs.
const CONSTRAINTS = 'bench/peers/litellm-constraints.txt';
const WORKERS = availableParallelism();

export const litellm: PeerGateway = {
  name: 'litellm',
  version: LITELLM_VERSION,
  settings: `litellm[proxy]==${LITELLM_VERSION} + prisma==${PRISMA_VERSION}, uvicorn, --num_workers ${WORKERS} (= cores), no database, LITELLM_LOCAL_MODEL_COST_MAP=True, master key (no DB: checked in memory), LITELLM_LOG=ERROR (no access log), --timeout_worker_healthcheck 180 (start-up only), one openai/ model in a generated config`,

  install() {
    if (installedVersions() === `${LITELLM_VERSION} ${PRISMA_VERSION}`) return { ok: true };
    const t0 = performance.now();
    const python = process.env.BENCH_PYTHON ?? 'python3';
    if (!existsSync(`${VENV}/bin/pip`)) {
      mkdirSync(VENV, { recursive: true });
      let venv = spawnSync(python, ['-m', 'venv', VENV], { encoding: 'utf8' });
      if (venv.error) return { ok: false, why: `${python} not found (set BENCH_PYTHON to a Python >= 3.9)` };
      if (venv.status !== 0 && /ensurepip|python3-venv/.test(venv.stdout + venv.stderr) && process.getuid?.() === 0) {
        // Debian splits venv support out of python3; as root the bench installs it, otherwise says so.
        console.log('python3 -m venv needs the Debian package python3-venv; installing it (running as root)');
        spawnSync('apt-get', ['install', '-y', 'python3-venv'], { stdio: 'inherit' });
        venv = spawnSync(python, ['-m', 'venv', '--clear', VENV], { encoding: 'utf8' });
      }
      if (venv.status !== 0) {
        const hint = /ensurepip|python3-venv/.test(venv.stdout + venv.stderr) ? ' (missing: apt-get install python3-venv)' : '';
        return { ok: false, why: `${python} -m venv failed${hint}: ${lastLine(venv.stderr || venv.stdout)}` };
      }
    }
    const pip = spawnSync(
      `${VENV}/bin/pip`,
      ['install', '--disable-pip-version-check', `litellm[proxy]==${LITELLM_VERSION}`, `prisma==${PRISMA_VERSION}`, '-c', CONSTRAINTS],
      { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' },
    );
    if (pip.stderr) process.stderr.write(pip.stderr);
    if (pip.status !== 0) return { ok: false, why: `pip install litellm[proxy]==${LITELLM_VERSION} failed: ${lastLine(pip.stderr)}` };
    return { ok: true, installSeconds: Math.round((performance.now() - t0) / 1000) };
  },

  async start(upstreamBaseUrl: string): Promise<RunningPeer> {
    const port = await freePort();
    const model = 'gpt-4o-mini';
    const config = `${VENV}/bench-config.yaml`;
    writeFileSync(
      config,
      stringify({
        model_list: [
          { model_name: model, litellm_params: { model: `openai/${model}`, api_base: upstreamBaseUrl, api_key: 'sk-upstream' } },
        ],
      }),
    );
    // No DATABASE_URL even if the caller's shell has one: "no database" is part of the settings.
    const { DATABASE_URL: _db, ...env } = process.env;
    const masterKey = `sk-bench-${randomBytes(16).toString('hex')}`;
    const log = openSync(`${VENV}/proxy.log`, 'w');
    const child = spawnGroup(
      BIN,
      [
        ...['--config', config, '--host', '127.0.0.1', '--port', String(port), '--num_workers', String(WORKERS)],
        // uvicorn kills a worker that does not answer its health ping within 5 s, and importing the
        // proxy takes longer than that on a busy 2-core box: workers would be restarted forever.
        ...['--timeout_worker_healthcheck', '180'],
      ],
      {
        env: { ...env, LITELLM_MASTER_KEY: masterKey, LITELLM_LOCAL_MODEL_COST_MAP: 'True', LITELLM_LOG: 'ERROR', PYTHONUNBUFFERED: '1' },
        stdio: ['ignore', log, log],
      },
    );
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    const headers = { authorization: `Bearer ${masterKey}` };
    const peer: RunningPeer = { url, headers, model, pid: child.pid!, stop: () => stopGroup(child) };
    // Python imports and one process per worker: start-up takes seconds, more on a loaded machine.
    return untilAnswering(peer, child, {
      what: `litellm (log: ${VENV}/proxy.log)`,
      timeoutMs: 240_000,
      intervalMs: 500,
      explain: (err) => `${err.message}; last line of ${VENV}/proxy.log: ${lastLine(readProxyLog())}`,
    });
  },
};

function installedVersions(): string | undefined {
  if (!existsSync(BIN)) return undefined;
  const script = 'import importlib.metadata as m; print(m.version("litellm"), m.version("prisma"))';
  const r = spawnSync(`${VENV}/bin/python`, ['-c', script], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function lastLine(text: string | null | undefined): string {
  return (text ?? '').trim().split('\n').at(-1) ?? '';
}

function readProxyLog(): string {
  try {
    return readFileSync(`${VENV}/proxy.log`, 'utf8');
  } catch {
    return '';
  }
}
