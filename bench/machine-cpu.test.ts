// node --test bench/machine-cpu.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxLoadTable, perRequest, ratesTable, total, type MachineSample } from './machine-cpu.ts';

const us = (gateway: number, nats: number, postgres: number, mock: number, loadgen: number) => ({
  gateway,
  'nats-server': nats,
  postgres,
  mock,
  'load generator': loadgen,
});

void test('CPU seconds per part become µs per request', () => {
  assert.deepEqual(
    perRequest({ gateway: 1, 'nats-server': 0.2, postgres: 0, mock: 0.05, 'load generator': 0.1 }, 4000),
    us(250, 50, 0, 13, 25),
  );
  assert.deepEqual(perRequest(us(1, 1, 1, 1, 1), 0), us(0, 0, 0, 0, 0));
});

void test("the max-load table: every part, the total, the gateway's side and the share of the cores", () => {
  const samples: MachineSample[] = [
    { gateway: 'switchyard', rate: 0, rps: 4000, us: us(250, 40, 20, 40, 50) },
    { gateway: 'switchyard', rate: 600, rps: 600, us: us(600, 180, 30, 60, 80) },
    { gateway: 'go-proxy', rate: 0, rps: 9000, us: us(120, 0, 0, 40, 50) },
  ];
  assert.equal(total(samples[0]!), 400);
  const table = maxLoadTable(samples, 2).split('\n');
  assert.equal(table.length, 4); // header, rule, the two max-load rows (not the fixed rate)
  // 400 µs x 4,000 req/s = 1.6 s of CPU a second: 80% of two cores; the gateway's side is 310 µs.
  assert.equal(table[2], '| switchyard | 250 | 40 | 20 | 40 | 50 | 400 µs | 310 µs | 4,000 | 80% |');
  assert.equal(table[3], '| go-proxy | 120 | 0 | 0 | 40 | 50 | 210 µs | 120 µs | 9,000 | 95% |');
});

void test("the fixed-rate table: the gateway's side per gateway and rate, blank where not measured", () => {
  const samples: MachineSample[] = [
    { gateway: 'switchyard', rate: 1200, rps: 1200, us: us(400, 100, 20, 50, 60) },
    { gateway: 'switchyard', rate: 600, rps: 600, us: us(600, 180, 30, 60, 80) },
    { gateway: 'go-proxy', rate: 600, rps: 600, us: us(300, 0, 0, 60, 80) },
  ];
  assert.deepEqual(ratesTable(samples).split('\n'), [
    "| rate | switchyard (gateway's side) | go-proxy (gateway's side) |",
    '|---|---|---|',
    '| 600 req/s | 810 µs | 300 µs |',
    '| 1,200 req/s | 520 µs |  |',
  ]);
  assert.equal(ratesTable(samples.map((s) => ({ ...s, rate: 0 }))), '');
});
