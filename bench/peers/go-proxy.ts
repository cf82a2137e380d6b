// The bare Go reverse proxy in bench/peers/go-proxy (stdlib only), built on first use with the
// machine's Go into .data/peers/go-proxy: the upper bound of GoModel's class (Go, no durable queue).
// GoModel's module cannot be fetched or built here; bench/peers/gomodel-like is its request path.
// Its Node twin (bench/peers/node-proxy) is the floor of a Node gateway on the same path.
import { resolve } from 'node:path';
import { goVersion, installGoPeer, startGoPeer, type PeerGateway } from './gateway.ts';

const SRC = resolve('bench/peers/go-proxy');
const BIN = resolve('.data/peers/go-proxy/go-proxy');

export const goProxy: PeerGateway = {
  name: 'go-proxy',
  version: goVersion(),
  settings:
    'bench/peers/go-proxy/main.go: net/http + httputil.ReverseProxy, bearer check, body parsed and re-encoded (model prefix stripped), responses flushed as written; GOMAXPROCS = cores; no queue, no ledger, no retries',

  install: () => installGoPeer(SRC, BIN),

  start: (upstreamBaseUrl) => startGoPeer('go-proxy', BIN, upstreamBaseUrl),
};
