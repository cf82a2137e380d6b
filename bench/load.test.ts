// node --test bench/load.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { median, runLoad, served } from './load.ts';

/** A local server answering every request with `status` and `{}`; `served()` counts what it answered. */
async function jsonServer(status = 200): Promise<{ url: string; served: () => number; close: () => void }> {
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    req.resume();
    req.on('end', () => ((res.statusCode = status), res.end('{}')));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, served: () => count, close: () => server.close() };
}

// At a fixed rate the generator must sleep between requests: one that spins takes a core from the
// gateway it measures (it did, and inflated the fixed-rate tail of the heaviest gateway most).
void test('the open loop keeps its rate and leaves the CPU to the gateway', async () => {
  const server = await jsonServer();
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await runLoad({ url: server.url, body: '{}', connections: 8, durationSeconds: 2, rate: 100 });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const busy = (cpu.user + cpu.system) / 1000 / wallMs;
    assert.equal(r.errors + r.non2xx, 0);
    assert.ok(r.warmupOk >= 95 && r.warmupOk <= 101, `${r.warmupOk} answers in the 1 s warm-up`);
    assert.ok(r.requests >= 190 && r.requests <= 202, `${r.requests} requests in 2 s at 100 req/s`);
    // 200 tiny requests (client and server in this process) take a few percent of a core; a spin takes all of it.
    assert.ok(busy < 0.5, `the load generator kept ${Math.round(busy * 100)}% of a core busy`);
  } finally {
    server.close();
  }
});

void test('every measured request is reported with its due time, after the connections were opened', async () => {
  const server = await jsonServer();
  try {
    const samples: Array<[number, number]> = [];
    const r = await runLoad({
      url: server.url,
      body: '{}',
      connections: 4,
      durationSeconds: 1,
      rate: 50,
      warmupSeconds: 0,
      openAllConnections: true,
      onSample: (due, latency) => void samples.push([due, latency]),
    });
    assert.equal(samples.length, r.requests);
    assert.ok(samples.every(([due, latency]) => due >= 0 && due < 1000 && latency >= 0));
    // 20 rounds of 4 at once opened the pool before the clock started; they count as warm-up answers.
    assert.equal(r.warmupOk, 80);
    assert.equal(server.served(), r.requests + 80);
    // What CPU measured around the call is divided by: every request the server answered.
    assert.equal(r.warmupRequests, 80);
    assert.equal(served(r), server.served());
  } finally {
    server.close();
  }
});

void test('a warm-up answer that failed still counts among the requests served', async () => {
  const server = await jsonServer(500);
  try {
    const r = await runLoad({ url: server.url, body: '{}', connections: 1, durationSeconds: 0.3, warmupSeconds: 0.3 });
    assert.equal(r.warmupOk, 0);
    assert.ok(r.warmupRequests > 0);
    assert.equal(r.non2xx, r.requests);
    assert.equal(served(r), server.served());
  } finally {
    server.close();
  }
});

void test('median: the middle value, or the mean of the middle two; the input is left as it was', () => {
  const xs = [9, 1, 5];
  assert.equal(median(xs), 5);
  assert.deepEqual(xs, [9, 1, 5]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});
