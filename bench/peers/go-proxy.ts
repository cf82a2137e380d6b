// The bare Go reverse proxy in bench/peers/go-proxy (stdlib only), built on first use with the
// machine's Go into .data/peers/go-proxy. It stands in for GoModel's class (Go, no durable queue):
// GoModel's own source cannot be fetched here, and no Go LLM gateway is served by the module proxy.
// Its Node twin (bench/peers/node-proxy) is the floor of a Node gateway on the same path.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePort } from '../../test/harness/ports.ts';
import { spawnGroup, stopGroup, untilAnswering, type PeerGateway, type RunningPeer } from './gateway.ts';

const SRC = resolve('bench/peers/go-proxy');
const BIN = resolve('.data/peers/go-proxy/go-proxy');

export const goProxy: PeerGateway = {
  name: 'go-proxy',
  version: goVersion(),
  settings:
    'bench/peers/go-proxy/main.go: net/http + httputil.ReverseProxy, bearer check, body parsed and re-encoded (model prefix stripped), responses flushed as written; GOMAXPROCS = cores; no queue, no ledger, no retries',

  install() {
    if (existsSync(BIN) && statSync(BIN).mtimeMs > statSync(`${SRC}/main.go`).mtimeMs) return { ok: true };
    const t0 = performance.now();
    mkdirSync(resolve('.data/peers/go-proxy'), { recursive: true });
    const r = spawnSync('go', ['build', '-o', BIN, '.'], { cwd: SRC, stdio: 'inherit', env: { ...process.env, GOFLAGS: '-mod=mod' } });
    if (r.error) return { ok: false, why: `go build failed: ${r.error.message} (is Go installed?)` };
    if (r.status !== 0) return { ok: false, why: `go build exited ${r.status}` };
    return { ok: true, installSeconds: Math.round((performance.now() - t0) / 1000) };
  },

  async start(upstreamBaseUrl: string): Promise<RunningPeer> {
    const port = await freePort();
    const key = 'sk-go-proxy';
    const child = spawnGroup(
      BIN,
      ['-addr', `127.0.0.1:${port}`, '-upstream', upstreamBaseUrl, '-key', key, '-upstream-key', 'sk-upstream'],
      {
        stdio: 'ignore',
      },
    );
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    const headers = { authorization: `Bearer ${key}` };
    const peer: RunningPeer = { url, headers, model: 'openai/gpt-4o-mini', pid: child.pid!, stop: () => stopGroup(child) };
    return untilAnswering(peer, child, { what: 'go-proxy', timeoutMs: 15_000 });
  },
};

function goVersion(): string {
  const r = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout.trim()} net/http` : 'go (not installed)';
}
