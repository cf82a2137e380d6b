// The bare Node reverse proxy in bench/peers/node-proxy, on the Node that runs the benchmark (the
// project's): the request path of go-proxy in Node, so a run shows how much of the distance between
// Switchyard and go-proxy is Node itself and how much is the durable path.
import { resolve } from 'node:path';
import { freePort } from '../../test/harness/ports.ts';
import { spawnGroup, stopGroup, untilAnswering, type PeerGateway, type RunningPeer } from './gateway.ts';

const MAIN = resolve('bench/peers/node-proxy/main.ts');

export const nodeProxy: PeerGateway = {
  name: 'node-proxy',
  version: `node ${process.versions.node} node:http + undici`,
  settings:
    'bench/peers/node-proxy/main.ts: node:http + undici Pool, bearer check, body parsed and re-encoded (model prefix stripped), responses relayed as they arrive; one process; no queue, no ledger, no retries',

  install() {
    return { ok: true }; // nothing beyond the project's own dependencies
  },

  async start(upstreamBaseUrl: string): Promise<RunningPeer> {
    const port = await freePort();
    const key = 'sk-node-proxy';
    const child = spawnGroup(process.execPath, [MAIN, String(port), upstreamBaseUrl, key, 'sk-upstream'], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    const headers = { authorization: `Bearer ${key}` };
    const peer: RunningPeer = { url, headers, model: 'openai/gpt-4o-mini', pid: child.pid!, stop: () => stopGroup(child) };
    return untilAnswering(peer, child, { what: 'node-proxy', timeoutMs: 15_000 });
  },
};
