// The bare Go reverse proxy in bench/peers/go-proxy (stdlib only), built on first use with the
// machine's Go into .data/peers/go-proxy: the upper bound of GoModel's class (Go, no durable queue).
// GoModel's module cannot be fetched or built here; bench/peers/gomodel-like is its request path.
// Its Node twin (bench/peers/node-proxy) is the floor of a Node gateway on the same path.
import { resolve } from 'node:path';
import { freePort } from '../../test/harness/ports.ts';
import { goVersion, installGoPeer, spawnGroup, stopGroup, untilAnswering, type PeerGateway, type RunningPeer } from './gateway.ts';

const SRC = resolve('bench/peers/go-proxy');
const BIN = resolve('.data/peers/go-proxy/go-proxy');

export const goProxy: PeerGateway = {
  name: 'go-proxy',
  version: goVersion(),
  settings:
    'bench/peers/go-proxy/main.go: net/http + httputil.ReverseProxy, bearer check, body parsed and re-encoded (model prefix stripped), responses flushed as written; GOMAXPROCS = cores; no queue, no ledger, no retries',

  install: () => installGoPeer(SRC, BIN),

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
