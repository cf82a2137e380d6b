// Micro-benchmark of each guardrail's cost on the request path, against a real throwaway
// nats-server (KV). Prints p50/p99 per guardrail in microseconds. Run:
//   node bench/guardrails.ts            (NATS_URL=... to use a running server instead)
// Results are recorded in docs/guardrails.md.
import { createHash } from 'node:crypto';
import Bottleneck from 'bottleneck';
import { connectNats } from '../shared/nats/connection.ts';
import { ensureLimitBuckets, openLimitBuckets } from '../shared/limits/kv.ts';
import { PriceBook } from '../shared/config/prices.ts';
import type { KeyPrincipal } from '../shared/db/api-keys.ts';
import type { Db } from '../shared/db/database.ts';
import { createLogger } from '../shared/telemetry/logger.ts';
import { metrics } from '../shared/telemetry/metrics.ts';
import { Admission } from '../services/ingress/admission.ts';
import { assertModelAllowed } from '../services/ingress/model-policy.ts';
import { resolveRoute } from '../services/ingress/routing.ts';
import { Breakers } from '../services/worker/breaker.ts';
import { UpstreamKeys } from '../services/worker/upstream-keys.ts';
import { walkTargets } from '../services/worker/fallback.ts';
import { loadConfig } from '../shared/config/env.ts';
import { parseConfigFile } from '../shared/config/file.ts';
import { startNatsServer } from '../test/harness/nats-server.ts';

const N = Number(process.env.BENCH_N ?? 20_000);

function stats(samples: number[]): { p50: number; p99: number } {
  const s = samples.sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)]!, p99: s[Math.floor(s.length * 0.99)]! };
}

async function measure(name: string, fn: () => unknown, n = N): Promise<void> {
  for (let i = 0; i < Math.min(2_000, n); i++) await fn(); // warm up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const r = fn();
    if (r instanceof Promise) await r;
    samples.push(Number(process.hrtime.bigint() - t) / 1_000);
  }
  const { p50, p99 } = stats(samples);
  console.log(`${name.padEnd(58)} p50 ${p50.toFixed(1).padStart(8)} µs   p99 ${p99.toFixed(1).padStart(8)} µs`);
}

const server = process.env.NATS_URL ? null : await startNatsServer();
const nats = await connectNats(process.env.NATS_URL ?? server!.url, 'bench-guardrails');
await ensureLimitBuckets(nats.nc);
const buckets = await openLimitBuckets(nats.nc);
const log = createLogger('bench', 'error');
const noDb = {} as Db; // budget counters are seeded from the ledger only when missing; seeded below via KV
const prices = new PriceBook({ 'openai/bench-model': { input: 1, output: 1 } });
const admission = new Admission({ buckets, db: noDb, prices, holder: 'bench', defaultMaxTokens: 256, log });

const principal = (over: Partial<KeyPrincipal>): KeyPrincipal => ({
  keyId: `key_${Math.random().toString(36).slice(2)}`,
  tenantId: `ten_${Math.random().toString(36).slice(2)}`,
  tenantName: 'bench',
  keyAllowedModels: null,
  tenantAllowedModels: ['openai/*'],
  keyLimits: null,
  tenantLimits: null,
  budget: null,
  expiresAt: null,
  ...over,
});
const body = { model: 'openai/bench-model', max_tokens: 100, messages: [{ role: 'user', content: 'a short benchmark prompt' }] };
const targets = [{ provider: 'openai', model: 'bench-model' }];

console.log(`guardrail costs, ${N} sequential calls each (one request at a time: worst case for batching)\n`);

// ---- ingress ----
const key = 'sy-benchmarkkey0123456789';
const cache = new Map([[createHash('sha256').update(key).digest('hex'), { principal: principal({}), expires: Date.now() + 1e9 }]]);
await measure('auth: SHA-256 of the key + principal cache hit', () => {
  const e = cache.get(createHash('sha256').update(key).digest('hex'));
  if (!e) throw new Error('miss');
});
const p0 = principal({});
await measure('model policy: allowed_models pattern check', () => assertModelAllowed(p0, 'openai/bench-model'));
const file = parseConfigFile('models:\n  fast: { targets: [{ model: openai/a }, { model: groq/b }] }\n');
await measure('routing: alias -> ordered targets', () => resolveRoute('fast', 'openai', file));
await measure('admission: principal without limits (fast path)', () => admission.admit(p0, targets, body, 'chat'));

const rpmHigh = principal({ tenantLimits: { rpm: 12_000_000 } });
await measure('admission: tenant rpm 12M/min (leases, mostly local)', async () => {
  const a = await admission.admit(rpmHigh, targets, body, 'chat')!;
  a.settle('unknown');
});

// Below 200/min no lease is taken: every request is one KV CAS (the worst case). 180 calls fit in 199.
const exact = principal({ tenantLimits: { rpm: 199 } });
await measure(
  'admission: tenant rpm 199 (no lease: one KV CAS each)',
  async () => {
    const a = await admission.admit(exact, targets, body, 'chat');
    a!.settle('failed');
  },
  90,
);

const conc = principal({ tenantLimits: { max_concurrency: 1_000_000 } });
await measure(
  'admission: max_concurrency (CAS in + CAS out, off path)',
  async () => {
    const a = await admission.admit(conc, targets, body, 'chat')!;
    a.settle('failed');
  },
  3_000,
);

const both = principal({ tenantLimits: { rpm: 1_000_000, tpm: 1_000_000_000 }, keyLimits: { rpm: 1_000_000 } });
await measure(
  'admission: tenant rpm+tpm and key rpm (2 scopes, parallel)',
  async () => {
    const a = await admission.admit(both, targets, body, 'chat')!;
    a.settle({ usage: { prompt_tokens: 5, completion_tokens: 50, total_tokens: 55 }, target: 'openai/bench-model' });
  },
  3_000,
);

const budgeted = principal({ budget: { usd: 1_000_000, period: 'month' } });
await buckets.budget.put(`${budgeted.tenantId}.${new Date().toISOString().slice(0, 7).replace('-', '').replace(/^/, 'm')}`, '{"spent":0}');
await measure(
  'admission: budget reservation (1 KV CAS) + reconcile',
  async () => {
    const a = await admission.admit(budgeted, targets, body, 'chat')!;
    a.settle({ usage: { prompt_tokens: 5, completion_tokens: 50, total_tokens: 55 }, target: 'openai/bench-model' });
  },
  3_000,
);

// Concurrency: 64 requests at once for one tenant from one process share CAS writes.
{
  const burst = principal({ tenantLimits: { rpm: 100_000 } });
  const t = process.hrtime.bigint();
  const rounds = 50;
  for (let r = 0; r < rounds; r++) {
    const all = await Promise.all(Array.from({ length: 64 }, () => admission.admit(burst, targets, body, 'chat')!));
    for (const a of all) a.settle('failed');
  }
  const per = Number(process.hrtime.bigint() - t) / 1_000 / (rounds * 64);
  console.log(`${'admission: 64 concurrent, rpm 100k (batched CAS), per request'.padEnd(58)} mean ${per.toFixed(1).padStart(7)} µs`);
}

// ---- worker ----
const breakers = new Breakers({ failures: 5, cooldownMs: 10_000 });
await measure('breaker: allow + success', () => {
  if (breakers.allow('openai/bench-model')) breakers.success('openai/bench-model');
});
const cfg = loadConfig({ OPENAI_API_KEY: 'k' });
cfg.file = parseConfigFile('providers:\n  openai:\n    api_keys: [{ key: a, weight: 2 }, { key: b, weight: 1 }]\n');
const keys = new UpstreamKeys(cfg);
await measure('upstream keys: weighted pick of 2 keys', () => keys.pick('openai', 'bench-model'));
const limited = new UpstreamKeys(
  Object.assign(loadConfig({ OPENAI_API_KEY: 'k' }), {
    file: parseConfigFile('providers:\n  openai:\n    api_keys: [{ key: a, rpm: 1000000000, tpm: 1000000000 }]\n'),
  }),
).pick('openai', 'bench-model') as unknown as { capacity(tokens: number): Promise<void> };
await measure('upstream key rpm+tpm: token-bucket check (capacity left)', () => limited.capacity(100));
const idle = new Bottleneck({});
await measure('for comparison: an idle bottleneck schedule()', () => idle.schedule(() => Promise.resolve(1)), 2_000);
await measure('fallback walk: first target answers', () =>
  walkTargets(
    targets,
    { target: '', hasFallback: false, spoke: false, cancelled: false },
    breakers,
    () => {
      throw new Error('x');
    },
    async () => 1,
    (f) => new Error(f.error.message),
  ),
);
await measure('metrics: counter inc with labels', () => metrics.rejections.inc({ reason: 'requests' }));

admission.close();
await nats.nc.close();
await server?.stop();
process.exit(0);
