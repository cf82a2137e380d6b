// node --test bench/peer-table.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peerTable, ratios, type MeasuredGateway } from './peer-table.ts';

const figures = (rps: number, p50: number) => ({ rps, p50, p99: p50 * 4, requests: rps * 10, failed: 0 });
const gateway = (name: string, rps: number, p50: number, rss?: number): MeasuredGateway => ({
  gateway: name,
  available: true,
  nonStreaming: figures(rps, p50),
  streaming: figures(rps / 2, p50 * 2),
  addedAtRate: { p50: 0.5, p99: 3 },
  ...(rss === undefined ? {} : { peakRssMb: rss, processes: 1 }),
});

void test('ratios are Switchyard divided by the peer', () => {
  const r = ratios(gateway('switchyard', 4000, 10, 300), gateway('portkey', 2000, 20, 100));
  assert.deepEqual(r, { peer: 'portkey', nonStreamingRps: 2, p50: 0.5, peakRss: 3, streamingRps: 2 });
});

void test('a peer that could not be installed stays in the table with its reason', () => {
  const md = peerTable(
    [
      gateway('direct', 30000, 1),
      gateway('switchyard', 4000, 10, 300),
      gateway('portkey', 2000, 20, 100),
      { gateway: 'litellm', version: '1.108.0', available: false, why: 'python3 -m venv failed (missing: apt-get install python3-venv)' },
    ],
    { rate: 500, connections: 64 },
  );
  assert.match(md, /\| litellm 1\.108\.0 \| not available: python3 -m venv failed \(missing: apt-get install python3-venv\) \|/);
  assert.match(md, /\| Switchyard \/ litellm \| not available \|/);
  assert.match(md, /\| Switchyard \/ portkey \| 2\.00× \| 0\.50× \| 3\.00× \| 2\.00× \|/);
  assert.match(md, /\| direct \| 30,000 \| 1\.00 ms \| 4\.00 ms \| \(baseline\) \| — \|/);
});

void test('failed requests are shown next to the throughput', () => {
  const broken = gateway('litellm', 100, 5, 900);
  broken.nonStreaming.failed = 7;
  const md = peerTable([gateway('switchyard', 4000, 10, 300), broken], { rate: 500, connections: 64 });
  assert.match(md, /\| litellm \| 100 \(7 failed\) \|/);
});

void test('added latency of a gateway whose maximum is below the fixed rate is marked as queueing', () => {
  const md = peerTable([gateway('switchyard', 4000, 10, 300), gateway('litellm', 300, 50, 900)], { rate: 500, connections: 64 });
  assert.match(md, /\| litellm \| 300 \|.*\+0\.50 \/ \+3\.00 ms \(saturated: max < rate\) \|/);
  assert.doesNotMatch(md, /\| switchyard \|.*saturated/);
});

void test('an added latency below the baseline keeps its sign', () => {
  const fast = gateway('go-proxy', 4000, 10, 20);
  fast.addedAtRate = { p50: 0.17, p99: -0.51 };
  const md = peerTable([gateway('switchyard', 2000, 10, 300), fast], { rate: 350, connections: 64 });
  assert.match(md, /\| go-proxy \|.*\+0\.17 \/ −0\.51 ms \|/);
});
