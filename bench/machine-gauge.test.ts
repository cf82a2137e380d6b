// node --test bench/machine-gauge.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { machineGauge } from './machine-gauge.ts';

void test('the gauge does the same work every time and times it', () => {
  const a = machineGauge(3, 200);
  const b = machineGauge(3, 200);
  assert.equal(a.checksum, b.checksum);
  assert.ok(a.ms > 0 && b.ms > 0);
});

void test('more rounds take longer: it measures the work, not a constant', () => {
  machineGauge(3, 500); // warm up the compiler first
  const small = machineGauge(3, 200);
  const large = machineGauge(3, 4_000);
  assert.ok(large.ms > small.ms * 3, `${large.ms} ms for 4,000 rounds vs ${small.ms} ms for 200`);
});
