// /metrics against hostile input (hostile-input hardening, part 8), against real NATS and Postgres:
// tenant-chosen model names cannot mint unbounded label values, and METRICS_TOKEN guards the
// endpoint on the ingress and on a worker's own metrics port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort } from '../harness/ports.ts';

const TOKEN = 'metrics-secret-token';
const MAX_TARGET_LABELS = 20;
let stack: Stack;
let workerMetricsUrl: string;

beforeAll(async () => {
  const workerPort = await freePort();
  workerMetricsUrl = `http://127.0.0.1:${workerPort}/metrics`;
  stack = await startStack({
    env: {
      METRICS_TOKEN: TOKEN,
      METRICS_MAX_TARGET_LABELS: String(MAX_TARGET_LABELS),
      WORKER_METRICS_PORT: String(workerPort),
      WORKER_MAX_RETRIES: '0',
      LOG_LEVEL: 'error',
    },
  });
});
afterAll(async () => stack?.close());

const scrape = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('/metrics', () => {
  it('needs the metrics token when METRICS_TOKEN is set, on the ingress and on the worker port', async () => {
    for (const url of [`${stack.url}/metrics`, workerMetricsUrl]) {
      for (const token of [undefined, 'wrong-token', `${TOKEN}x`]) {
        const res = await scrape(url, token);
        expect(res.status).toBe(401);
        const body = (await res.json()) as { error: { code: string; type: string; message: string; param: null } };
        expect(body.error.code).toBe('invalid_metrics_token');
        expect(body.error.param).toBeNull();
      }
      const ok = await scrape(url, TOKEN);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('switchyard_requests_total');
    }
  });

  it('1,000 distinct bogus model names do not mint 1,000 label values', async () => {
    const names = Array.from({ length: 1_000 }, (_, i) => `openai/bogus-model-${i}`);
    let next = 0;
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (next < names.length) {
          const model = names[next++]!;
          const res = await fetch(`${stack.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x\nmock:{"error":{"status":500}}' }] }),
          });
          await res.arrayBuffer();
          statuses.push(res.status);
        }
      }),
    );
    // Every request reached the upstream and failed there, so each one fed the breaker of its target.
    expect(statuses.filter((s) => s >= 500).length).toBe(1_000);
    const text = await (await scrape(`${stack.url}/metrics`, TOKEN)).text();
    const breakerSeries = text.split('\n').filter((l) => l.startsWith('switchyard_breaker_state{'));
    expect(breakerSeries.length).toBeGreaterThan(0);
    expect(breakerSeries.length).toBeLessThanOrEqual(MAX_TARGET_LABELS + 1);
    expect(breakerSeries.some((l) => l.includes('target="openai/other"'))).toBe(true);
    const allSeries = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(allSeries.filter((l) => l.includes('bogus-model')).length).toBeLessThanOrEqual(MAX_TARGET_LABELS * 2);
  });
});
