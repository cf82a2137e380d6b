// node --test bench/processes.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { PeakMemory, processTree, treeMemory } from './processes.ts';

// A parent that forks a child that allocates ~64 MB: the child's memory must count for the parent.
const CHILD = `const b = Buffer.alloc(64 * 1024 * 1024, 1); setInterval(() => b[0]++, 1000);`;
const PARENT = `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(CHILD)}], { stdio: 'ignore' }); setInterval(() => {}, 1000);`;

void test('the process tree and its memory include forked children', async () => {
  const parent = spawn(process.execPath, ['-e', PARENT], { stdio: 'ignore', detached: true });
  try {
    let tree: number[] = [];
    for (let i = 0; i < 100 && tree.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      tree = processTree(parent.pid!);
    }
    assert.equal(tree.length, 2);
    assert.equal(tree[0], parent.pid);
    const peak = new PeakMemory(() => [parent.pid], 50);
    let mem = treeMemory([parent.pid]);
    for (let i = 0; i < 100 && mem.rssMb < 64 + 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      mem = treeMemory([parent.pid]);
    }
    const own = treeMemory([tree[0]!]).rssMb - treeMemory([tree[1]!]).rssMb;
    assert.ok(mem.rssMb > 64 + 30, `tree RSS ${mem.rssMb} MB should hold the child's 64 MB buffer and two Node runtimes`);
    assert.ok(mem.rssMb > own + 64, 'the sum covers the child, not just the parent');
    assert.ok(mem.pssMb > 0 && mem.pssMb <= mem.rssMb + 1);
    const peakMem = peak.stop();
    assert.ok(peakMem.rssMb >= 64 && peakMem.processes === 2);
    // Roots that overlap (a parent and its own child) are counted once.
    assert.equal(treeMemory([parent.pid, tree[1]]).processes, 2);
  } finally {
    process.kill(-parent.pid!, 'SIGKILL');
  }
});
