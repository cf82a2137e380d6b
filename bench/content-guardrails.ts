// Content guardrails: what each kind adds, measured two ways.
//  1. In process: the check alone (µs p50/p99) on a representative request (4 messages, ~1.2 KB of
//     text) and answer (~600 characters), and the heap one guardrail and one stream stage hold.
//  2. End to end: the all-in-one process (`npm start`'s shape, embedded PGlite) with one key per kind
//     (attached through the admin API); non-streamed latency at a fixed rate, and time to first token
//     of streamed answers (mock upstream: 20 ms between tokens), each against a key with no guardrail.
//
//   node bench/content-guardrails.ts
//   BENCH_RATE=50 BENCH_DURATION=5 BENCH_STREAMS=100 BENCH_KINDS=none,pii node bench/content-guardrails.ts
//
// Load generator, broker, NATS, the mock and the webhook share this machine's cores.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigFile } from '../shared/config/file.ts';
import { GuardrailRegistry } from '../shared/guardrails/registry.ts';
import { runLoad } from './load.ts';
import { BROKER_NODE_FLAGS, ProcessGroup } from './processes.ts';
import { startNatsServer } from '../test/harness/nats-server.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';

const N = Number(process.env.BENCH_N ?? 5_000);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 60);
const ADMIN = 'bench-admin';
const API_KEY = 'sk-bench';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

// ---- a webhook that allows everything at once ----
const hook = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"action":"allow"}'));
});
await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/check`;

const KINDS: Record<string, string> = {
  blocklist: `{name: blocklist, kind: blocklist, mode: [pre_call, post_call], keywords: [project falcon, internal only, do not share, confidential, codename, launch date, acquisition, layoffs, password, salary], patterns: ['(?i)ticket-[0-9]{5}', 'v[0-9]+\\.[0-9]+-secret']}`,
  keywords:
    '{name: keywords, kind: blocklist, mode: [pre_call, post_call], keywords: [project falcon, internal only, do not share, confidential, codename, launch date, acquisition, layoffs, password, salary]}',
  pii: '{name: pii, kind: pii, mode: [pre_call, post_call], on_fail: mask}',
  max_input_tokens: '{name: max_input_tokens, kind: max_input_tokens, mode: pre_call, max_tokens: 100000}',
  tools: '{name: tools, kind: tools, mode: [pre_call, post_call], deny: [shell, delete_file]}',
  json_schema: '{name: json_schema, kind: json_schema, mode: post_call, schema: {type: object}}',
  webhook: `{name: webhook, kind: webhook, mode: pre_call, url: '${hookUrl}', timeout_ms: 1000, on_error: open}`,
};
const yaml = `guardrails:\n${Object.values(KINDS)
  .map((k) => `  - ${k}`)
  .join('\n')}\n`;

// ---- 1. in process ----
const sentence = 'Please summarise the quarterly report for the northern region and list three risks with owners. ';
const request = {
  model: 'openai/gpt-4o-mini',
  messages: [
    { role: 'system', content: sentence.repeat(3) },
    { role: 'user', content: sentence.repeat(4) },
    { role: 'assistant', content: sentence.repeat(2) },
    { role: 'user', content: `${sentence.repeat(3)} Contact me at someone@example.com.` },
  ],
  tools: [{ type: 'function', function: { name: 'search' } }],
};
const answer = `{"summary": "${'The region grew steadily and kept its costs flat. '.repeat(12)}"}`;
const registry = new GuardrailRegistry(parseConfigFile(yaml));
const ctx = { requestId: 'req_bench', tenantId: 't', keyId: null, model: request.model };

console.log(
  `in process (check alone, ${N} runs each; request ${JSON.stringify(request.messages).length} B, answer ${answer.length} chars):`,
);
for (const g of registry.list()) {
  const inputs: number[] = [];
  const outputs: number[] = [];
  const streamed: number[] = [];
  for (let i = 0; i < N + 500; i++) {
    if (g.modes.has('pre_call')) {
      const copy = structuredClone(request);
      const t = performance.now();
      await g.checkInput(copy, ctx, 'pre_call');
      if (i >= 500) inputs.push((performance.now() - t) * 1000);
    }
    const stage = g.outputStage(request, ctx);
    if (stage) {
      let t = performance.now();
      stage.push(answer);
      await stage.end();
      if (i >= 500) outputs.push((performance.now() - t) * 1000);
      // The same answer streamed as ~5-character tokens.
      const s = g.outputStage(request, ctx)!;
      t = performance.now();
      for (let at = 0; at < answer.length; at += 5) s.push(answer.slice(at, at + 5));
      await s.end();
      if (i >= 500) streamed.push((performance.now() - t) * 1000);
    }
  }
  const fmt = (xs: number[]) =>
    xs.length ? `p50 ${pct(xs, 0.5).toFixed(1).padStart(7)} µs  p99 ${pct(xs, 0.99).toFixed(1).padStart(7)} µs` : '-'.padEnd(29);
  console.log(
    `  ${g.name.padEnd(17)} request ${fmt(inputs)}   answer ${fmt(outputs)}   streamed (${Math.ceil(answer.length / 5)} chunks) ${fmt(streamed)}`,
  );
}
// Heap: 1000 registries (every kind) and 10 000 live stream stages of the PII kind.
globalThis.gc?.();
let before = process.memoryUsage().heapUsed;
const keep: unknown[] = [];
for (let i = 0; i < 1000; i++) keep.push(new GuardrailRegistry(parseConfigFile(yaml)));
globalThis.gc?.();
console.log(
  `  heap per registry of all ${registry.size} guardrails: ${((process.memoryUsage().heapUsed - before) / 1000 / 1024).toFixed(1)} KiB`,
);
keep.length = 0;
globalThis.gc?.();
before = process.memoryUsage().heapUsed;
const pii = registry.get('pii')!;
for (let i = 0; i < 10_000; i++) {
  const s = pii.outputStage(request, ctx)!;
  s.push(answer.slice(0, 200));
  keep.push(s);
}
globalThis.gc?.();
console.log(`  heap per live PII stream stage (200 chars pushed): ${((process.memoryUsage().heapUsed - before) / 10_000).toFixed(0)} B`);
keep.length = 0;

// ---- 2. end to end ----
const group = new ProcessGroup();
try {
  const nats = await startNatsServer();
  group.cleanups.push(() => nats.stop());
  const mockUrl = (await group.startMock({ MOCK_TOKENS: '40' })).url;
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-bench-guardrails-'));
  group.cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  writeFileSync(join(dataDir, 'switchyard.yaml'), yaml);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  group.run(
    'services/all/main.ts',
    {
      NATS_URL: nats.url,
      OPENAI_BASE_URL: `${mockUrl}/v1`,
      OPENAI_API_KEY: 'sk-upstream',
      BOOTSTRAP_API_KEY: API_KEY,
      ADMIN_API_KEY: ADMIN,
      SWITCHYARD_CONFIG: join(dataDir, 'switchyard.yaml'),
      SWITCHYARD_DATA_DIR: dataDir,
      DATABASE_URL: '',
      LOG_LEVEL: 'error',
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    BROKER_NODE_FLAGS,
  );
  await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok ?? false, {
    timeoutMs: 120_000,
    intervalMs: 50,
    what: 'switchyard',
  });
  const admin = async (method: string, path: string, body: unknown) =>
    (await (
      await fetch(`${base}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json()) as Record<string, string>;
  const tenant = await admin('POST', '/tenants', { name: 'bench' });
  const keys: Record<string, string> = {};
  for (const kind of ['none', ...Object.keys(KINDS)]) {
    const k = await admin('POST', `/tenants/${tenant.id}/keys`, { name: kind });
    if (kind !== 'none') await admin('PUT', `/keys/${k.id}/guardrails`, { guardrails: [kind] });
    keys[kind] = k.key!;
  }
  // The upstream answers ~40 whitespace-separated tokens that form one JSON object, so json_schema passes.
  const jsonAnswer = JSON.stringify({ summary: Array.from({ length: 38 }, (_, i) => `word${i}`).join(' ') });
  const body = (stream: boolean, itl = 0) =>
    JSON.stringify({
      ...request,
      stream,
      messages: [
        ...request.messages.slice(0, 3),
        { role: 'user', content: `${sentence}\nmock:${JSON.stringify({ text: jsonAnswer, itl_ms: itl })}` },
      ],
    });

  async function ttft(key: string): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const t = performance.now();
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body(true, 20),
      });
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let seen = '';
      let first = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += dec.decode(value, { stream: true });
        if (!first && /"content":"[^"]/.test(seen)) first = performance.now() - t;
      }
      out.push(first);
    }
    return out;
  }

  console.log(
    `\nend to end (all-in-one, embedded PGlite; ${RATE} req/s for ${DURATION} s non-streamed; ${STREAMS} sequential streams, 20 ms/token):`,
  );
  for (const kind of ['none', ...Object.keys(KINDS)].filter(
    (k) => !process.env.BENCH_KINDS || process.env.BENCH_KINDS.split(',').includes(k),
  )) {
    const headers = { authorization: `Bearer ${keys[kind]}` };
    await runLoad({ url: `${base}/v1/chat/completions`, body: body(false), headers, connections: 8, durationSeconds: 1 });
    const r = await runLoad({
      url: `${base}/v1/chat/completions`,
      body: body(false),
      headers,
      connections: 16,
      durationSeconds: DURATION,
      rate: RATE,
    });
    const t = await ttft(keys[kind]!);
    console.log(
      `  ${kind.padEnd(17)} non-streamed p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(6)} ms  (non-2xx ${r.non2xx}, errors ${r.errors})   TTFT p50 ${pct(t, 0.5).toFixed(1).padStart(6)} ms  p99 ${pct(t, 0.99).toFixed(1).padStart(6)} ms`,
    );
  }
} finally {
  await group.stopAll('SIGTERM');
  hook.close();
}
