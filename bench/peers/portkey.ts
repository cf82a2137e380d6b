// Portkey's open-source gateway (Node), default settings: the way its README starts it.
//
// Installed into a directory of its own with one transitive pin: @hono/node-server 1.13.8. Whatever
// npm resolves today (1.19.x) hands Portkey a Response whose headers are the upstream fetch's
// immutable ones, and Portkey's `updateHeaders` then throws `TypeError: immutable` on every stream
// (500 "Something went wrong"; Portkey issue #1389). 1.13.8 streams, and Portkey's non-streaming
// requests are no slower on it (1.04–1.12× faster here, docs/benchmarks.md), so the pin does not
// flatter Switchyard's ratios. BENCH_PORTKEY_HONO_NODE_SERVER=<version> measures another.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort } from '../../test/harness/ports.ts';
import { spawnGroup, stopGroup, untilAnswering, type PeerGateway, type RunningPeer } from './gateway.ts';

export const PORTKEY_VERSION = '1.15.2';
const PORTKEY_HONO_NODE_SERVER = process.env.BENCH_PORTKEY_HONO_NODE_SERVER ?? '1.13.8';
const DIR = `.data/peers/portkey-hono-${PORTKEY_HONO_NODE_SERVER}`;
const ENTRY = `${DIR}/node_modules/@portkey-ai/gateway/build/start-server.js`;
const STAMP = `${DIR}/node_modules/@hono/node-server/package.json`;

/** The install's package.json: Portkey at its version, @hono/node-server forced for every dependant. */
function portkeyManifest(): string {
  return JSON.stringify(
    {
      private: true,
      dependencies: { '@portkey-ai/gateway': PORTKEY_VERSION },
      overrides: { '@hono/node-server': PORTKEY_HONO_NODE_SERVER },
    },
    null,
    2,
  );
}

function installedHonoNodeServer(): string | undefined {
  if (!existsSync(STAMP)) return undefined;
  return (JSON.parse(readFileSync(STAMP, 'utf8')) as { version?: string }).version;
}

export const portkey: PeerGateway = {
  name: 'portkey',
  version: PORTKEY_VERSION,
  settings: `defaults (\`start-server.js --headless\`, one Node process), @hono/node-server ${PORTKEY_HONO_NODE_SERVER}; upstream chosen per request by x-portkey-provider / x-portkey-custom-host`,

  install() {
    if (existsSync(ENTRY) && installedHonoNodeServer() === PORTKEY_HONO_NODE_SERVER) return { ok: true };
    const t0 = performance.now();
    mkdirSync(DIR, { recursive: true });
    writeFileSync(`${DIR}/package.json`, portkeyManifest());
    const r = spawnSync('npm', ['install', '--prefix', DIR, '--no-audit', '--no-fund'], { stdio: 'inherit' });
    if (r.error) return { ok: false, why: `npm install failed: ${r.error.message}` };
    if (r.status !== 0 || !existsSync(ENTRY))
      return { ok: false, why: `npm install @portkey-ai/gateway@${PORTKEY_VERSION} exited ${r.status}` };
    const hono = installedHonoNodeServer();
    if (hono !== PORTKEY_HONO_NODE_SERVER)
      return { ok: false, why: `@hono/node-server ${hono ?? 'missing'} installed, ${PORTKEY_HONO_NODE_SERVER} pinned` };
    return { ok: true, installSeconds: Math.round((performance.now() - t0) / 1000) };
  },

  async start(upstreamBaseUrl: string): Promise<RunningPeer> {
    const port = await freePort();
    const child = spawnGroup(process.execPath, [ENTRY, `--port=${port}`, '--headless'], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstreamBaseUrl, authorization: 'Bearer sk-upstream' };
    const peer: RunningPeer = { url, headers, model: 'gpt-4o-mini', pid: child.pid!, stop: () => stopGroup(child) };
    return untilAnswering(peer, child, { what: 'portkey', timeoutMs: 30_000 });
  },
};
