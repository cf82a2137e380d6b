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
  // 20 times the work; a factor of 2 leaves room for a busy machine (the median of 5 passes each).
  const small = machineGauge(5, 200);
  const large = machineGauge(5, 4_000);
  assert.ok(large.ms > small.ms * 2, `${large.ms} ms for 4,000 rounds vs ${small.ms} ms for 200`);
});
