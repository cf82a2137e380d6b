// node --test bench/soak-trend.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slope, trend, type Sample } from './soak-trend.ts';

const series = (seconds: number, f: (t: number) => number): Sample[] =>
  Array.from({ length: seconds / 5 + 1 }, (_, i) => ({ t: i * 5, mb: f(i * 5) }));

void test('slope is MB per second by least squares', () => {
  assert.equal(slope(series(100, (t) => 10 + 0.5 * t)), 0.5);
  assert.equal(slope([{ t: 3, mb: 1 }]), 0);
});

void test('memory that rises during the warm-up and then stays is settled', () => {
  const r = trend(
    series(900, (t) => (t < 120 ? 100 + t / 2 : 160 + (t % 30 === 0 ? 4 : 0))),
    { warmupSeconds: 120, toleranceMb: 10 },
  );
  assert.equal(r.verdict, 'settled');
  assert.equal(r.peakMb, 164);
  assert.equal(r.middleMb, 160);
});

void test('a slow leak is growing even when each step is small', () => {
  // 2 MB a minute: 26 MB over the 13 minutes after the warm-up.
  const r = trend(
    series(900, (t) => 150 + (2 * t) / 60),
    { warmupSeconds: 120, toleranceMb: 10 },
  );
  assert.equal(r.verdict, 'growing');
  assert.equal(r.slopeMbPerMin, 2);
});

void test('one late spike does not read as growth', () => {
  const r = trend(
    series(900, (t) => (t === 850 ? 240 : 170)),
    { warmupSeconds: 120, toleranceMb: 10 },
  );
  assert.equal(r.verdict, 'settled');
  assert.equal(r.peakMb, 240);
});

void test('a step up in the last third is growing', () => {
  const r = trend(
    series(900, (t) => (t > 700 ? 190 : 170)),
    { warmupSeconds: 120, toleranceMb: 10 },
  );
  assert.equal(r.verdict, 'growing');
});
