// GoModel's request path, modelled in Go (bench/peers/gomodel-like, stdlib only), built on first use
// with the machine's Go into .data/peers/gomodel-like. GoModel itself cannot be fetched here; its MID
// generation (~v0.1.2x: translated-inference service + execution plan, encoding/json) was read from
// its public source and its per-request work is written down in the notes this peer follows: access
// log, request id, body snapshot, selector peek, typed decode and re-encode of request and answer,
// model registry, circuit breaker, shared upstream client, streams relayed with a flush per read.
// go-proxy stays the upper bound of a Go gateway (a bare reverse proxy); this one is GoModel's path.
import { resolve } from 'node:path';
import { goVersion, installGoPeer, startGoPeer, type PeerGateway } from './gateway.ts';

const SRC = resolve('bench/peers/gomodel-like');
const BIN = resolve('.data/peers/gomodel-like/gomodel-like');

export const gomodelLike: PeerGateway = {
  name: 'gomodel-like',
  version: goVersion(),
  settings:
    "bench/peers/gomodel-like/main.go: GoModel's MID-generation request path (~v0.1.2x, read from its source) rebuilt with stdlib net/http ServeMux instead of echo v5 (cheaper, so it errs in GoModel's favour), encoding/json; " +
    'per request: one slog JSON access line (written to stderr, discarded here), Recover, 10 MB body limit, X-Request-ID or a UUIDv4, body/header/query snapshot, bearer check, ' +
    'model/provider/stream peek, typed ChatRequest decode (unknown fields kept), selector split + model registry (RWMutex, slice copy + scan), execution plan in the context, ' +
    'request marshalled for the no-op response cache and again for upstream, circuit breaker (two mutex ops), shared http.Client (100 idle conns/host), ' +
    'typed ChatResponse decode + re-encode with "provider"; streams: 512 B peek, then bytes relayed through a 32 KiB buffer with a flush per read; ' +
    'usage, audit log, metrics off; retries 0 and breaker threshold 1e9 as in the vendor benchmark; GOMAXPROCS = cores; no queue, no ledger',

  install: () => installGoPeer(SRC, BIN),

  // The vendor's own benchmark (ai-gateway-reproducible-benchmark) runs GoModel with no retries and a
  // breaker that never opens. Its access-log line is still formatted and written per request (to /dev/null).
  start: (upstreamBaseUrl) => startGoPeer('gomodel-like', BIN, upstreamBaseUrl, ['-retries', '0', '-breaker-failures', '1000000000']),
};
