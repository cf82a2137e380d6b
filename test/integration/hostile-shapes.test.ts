// `npm start` keeps the object shapes (V8 maps) its optimized code was built for across idle
// collections (--retain-maps-for-n-gc=1000, see docs/architecture.md "Warm after a quiet spell").
// A tenant controls the shapes of what it sends: every never-seen key in `metadata`, tool parameters,
// a message or the body itself makes new maps when the body is parsed. This checks that a flood of
// such bodies does not stay in the broker's heap: V8 retains only maps embedded in optimized code, and
// a site that sees more than four maps goes megamorphic and embeds none.
//
// Runs the embedded default exactly as `npm start` does (scripts/start.mjs with its V8 flags,
// PGlite, simulators) plus an inspector port, through which the test forces full collections and
// reads the live heap.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { Inspector } from '../harness/inspector.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { freshMachineEnv, nodeFlagsOf } from '../harness/npm-scripts.ts';

const KEY = 'sk-hostile-shapes-test';
// Requests in the flood, and never-seen keys in each (8 in metadata, 8 tool parameters, one in the
// message, two at the top level). Kept, each key costs a map, its share of a descriptor array and an
// internalized string: with the ingress changed to keep only each request's `metadata` object (8 of
// the 19 keys), this test read +7.6 MB and failed; as shipped it reads +0.6-0.9 MB.
const REQUESTS = 8_000;
const MAX_GROWTH_MB = 5;

let nats: NatsServer;
let proc: ChildProcess;
let port: number;
let output = '';
let cdp: Inspector;

let seq = 0;
const fresh = () => `k${(seq++).toString(36)}${Math.random().toString(36).slice(2, 7)}`;

function hostileBody(stream: boolean): string {
  const metadata: Record<string, string> = {};
  for (let i = 0; i < 8; i++) metadata[fresh()] = 'v';
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < 8; i++) properties[fresh()] = { type: 'string' };
  return JSON.stringify({
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi', [fresh()]: 1 }],
    metadata,
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties } } }],
    [fresh()]: { [fresh()]: 1 },
    ...(stream ? { stream: true } : {}),
  });
}

const plainBody = (stream: boolean) =>
  JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...(stream ? { stream: true } : {}) });

/** `total` requests over 16 connections, alternating streaming and not; returns the statuses seen. */
async function send(total: number, body: (stream: boolean) => string): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let sent = 0;
  const lane = async () => {
    while (sent < total) {
      const stream = sent++ % 2 === 0;
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: body(stream),
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  return statuses;
}

beforeAll(async () => {
  nats = await startNatsServer();
  port = await freePort();
  const inspectPort = await freePort();
  const env = {
    ...freshMachineEnv(),
    NATS_URL: nats.url,
    PORT: String(port),
    SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'sy-shapes-')),
    BOOTSTRAP_API_KEY: KEY,
    LOG_LEVEL: 'warn',
  };
  proc = spawn(process.execPath, [...nodeFlagsOf('start'), `--inspect=127.0.0.1:${inspectPort}`, 'scripts/start.mjs'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  await waitFor(async () => proc.exitCode !== null || (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok === true, {
    timeoutMs: 90_000,
    what: 'npm start',
  });
  if (proc.exitCode !== null) throw new Error(`scripts/start.mjs exited: ${output}`);
  cdp = await Inspector.connect(inspectPort);
}, 120_000);

afterAll(async () => {
  cdp?.close();
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  await nats?.stop();
});

describe('a flood of never-seen JSON shapes (npm start flags)', () => {
  it('leaves the live heap where it was', { timeout: 180_000 }, async () => {
    // Warm: the request path optimized and every lazy structure (pools, caches, metrics) in place.
    const warm = await send(2_000, plainBody);
    expect([...warm.keys()], output).toEqual([200]);
    const before = await cdp.liveHeapMb();

    const flood = await send(REQUESTS, hostileBody);
    // Accepted, like any OpenAI client's extra fields: the shapes went all the way through the broker.
    expect(Object.fromEntries(flood), output).toEqual({ 200: REQUESTS });
    const after = await cdp.liveHeapMb();

    console.log(`live heap before the flood ${before.toFixed(2)} MB, after ${after.toFixed(2)} MB (${REQUESTS} requests)`);
    expect(after - before).toBeLessThan(MAX_GROWTH_MB);
  });
});
