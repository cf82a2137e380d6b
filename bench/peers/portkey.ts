// Portkey's open-source gateway (Node), default settings: the way its README starts it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { freePort } from '../../test/harness/ports.ts';
import { spawnGroup, stopGroup, untilAnswering, type PeerGateway, type RunningPeer } from './gateway.ts';

export const PORTKEY_VERSION = '1.15.2';
const DIR = '.data/peers';
const ENTRY = `${DIR}/node_modules/@portkey-ai/gateway/build/start-server.js`;

export const portkey: PeerGateway = {
  name: 'portkey',
  version: PORTKEY_VERSION,
  settings:
    'defaults (`start-server.js --headless`, one Node process); upstream chosen per request by x-portkey-provider / x-portkey-custom-host',

  install() {
    if (existsSync(ENTRY)) return { ok: true };
    const t0 = performance.now();
    mkdirSync(DIR, { recursive: true });
    const r = spawnSync(
      'npm',
      ['install', '--prefix', DIR, '--no-save', '--no-audit', '--no-fund', `@portkey-ai/gateway@${PORTKEY_VERSION}`],
      { stdio: 'inherit' },
    );
    if (r.error) return { ok: false, why: `npm install failed: ${r.error.message}` };
    if (r.status !== 0 || !existsSync(ENTRY))
      return { ok: false, why: `npm install @portkey-ai/gateway@${PORTKEY_VERSION} exited ${r.status}` };
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
