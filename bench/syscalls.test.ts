// node --test bench/syscalls.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStraceSummary } from './syscalls.ts';

void test('reads calls per syscall from strace -c, with and without an errors column, without the total', () => {
  const summary = [
    '% time     seconds  usecs/call     calls    errors syscall',
    '------ ----------- ----------- --------- --------- ----------------',
    ' 95.54    2.966864        1592      1863       123 futex',
    '  2.02    0.062826           7      8942           write',
    '  0.00    0.000013           1        10           setsockopt',
    '------ ----------- ----------- --------- --------- ----------------',
    '100.00    3.105299          66     46561       123 total',
  ].join('\n');
  assert.deepEqual(
    [...parseStraceSummary(summary)],
    [
      ['futex', 1863],
      ['write', 8942],
      ['setsockopt', 10],
    ],
  );
});
