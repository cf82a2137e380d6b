// node --test bench/processes.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  benchHistory,
  benchStreamScript,
  BROKER_NODE_FLAGS,
  cpuSeconds,
  LEAN_NODE_FLAGS,
  nodeFor,
  PeakMemory,
  processTree,
  rssMb,
  threadCpuSeconds,
  treeCpuSeconds,
  treeMemory,
} from './processes.ts';

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
    try {
      // Until the child has filled its buffer: two Node runtimes alone are ~90 MB, so a tree total
      // could pass the mark while the buffer is still being written (seen under CI load).
      for (let i = 0; i < 100 && treeMemory([tree[1]!]).rssMb < 64 + 20; i++) await new Promise((r) => setTimeout(r, 100));
      const child = treeMemory([tree[1]!]).rssMb;
      const own = rssMb(parent.pid);
      const mem = treeMemory([parent.pid]);
      assert.ok(child > 64 + 20, `child RSS ${child} MB should hold its 64 MB buffer and a Node runtime`);
      // Both now steady (buffer filled, parent idle): the tree is the parent plus the child, within a few MB.
      assert.ok(mem.rssMb > own + child - 5, `tree RSS ${mem.rssMb} MB should be the parent's ${own} plus the child's ${child}`);
      assert.equal(mem.processes, 2);
      assert.ok(mem.pssMb > 0 && mem.pssMb <= mem.rssMb + 1);
    } finally {
      // Stopped even when an assertion failed: a running sampler would keep the test process alive.
      const peakMem = peak.stop();
      assert.ok(peakMem.rssMb >= 64 && peakMem.processes === 2);
    }
    // Roots that overlap (a parent and its own child) are counted once.
    assert.equal(treeMemory([parent.pid, tree[1]]).processes, 2);
  } finally {
    process.kill(-parent.pid!, 'SIGKILL');
  }
});

const scripts = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> })
  .scripts;

void test("benchmarks run the broker with npm start's V8 flags", () => {
  const start = scripts.start!;
  assert.ok(BROKER_NODE_FLAGS.length > 0);
  for (const flag of BROKER_NODE_FLAGS) assert.match(flag, /^--[a-z]/);
  // Every flag and nothing else: the start script is node, the flags, then the script to run.
  assert.equal(start, `node ${BROKER_NODE_FLAGS.join(' ')} scripts/start.mjs`);
});

void test('npm run start:lean: the same entry point with flags this Node accepts', () => {
  assert.equal(scripts['start:lean'], `node ${LEAN_NODE_FLAGS.join(' ')} scripts/start.mjs`);
  assert.ok(LEAN_NODE_FLAGS.includes('--heap-growing-percent=50'));
  // Node refuses an unknown or malformed V8 flag at start; this one must run.
  const run = spawnSync(process.execPath, [...LEAN_NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});

void test('BENCH_SERVICE_NODE runs our services on another Node, never the mock upstream', () => {
  const other = { BENCH_SERVICE_NODE: '/opt/node22/bin/node' };
  assert.equal(nodeFor('services/all/main.ts', other), '/opt/node22/bin/node');
  assert.equal(nodeFor('services/worker/main.ts', other), '/opt/node22/bin/node');
  assert.equal(nodeFor('services/mock-providers/main.ts', other), process.execPath);
  assert.equal(nodeFor('bench/peers/node-proxy/main.ts', other), process.execPath);
  assert.equal(nodeFor('services/all/main.ts', {}), process.execPath);
});

void test('the benchmark stream: 20 back-to-back tokens unless BENCH_STREAM_TOKENS / BENCH_STREAM_ITL_MS say otherwise', () => {
  assert.deepEqual(benchStreamScript({}), { tokens: 20 });
  assert.deepEqual(benchStreamScript({ BENCH_STREAM_TOKENS: '300', BENCH_STREAM_ITL_MS: '2' }), { tokens: 300, itl_ms: 2 });
  assert.deepEqual(benchStreamScript({ BENCH_STREAM_ITL_MS: '0' }), { tokens: 20 });
  assert.throws(() => benchStreamScript({ BENCH_STREAM_TOKENS: '0' }), /BENCH_STREAM_TOKENS/);
  assert.throws(() => benchStreamScript({ BENCH_STREAM_ITL_MS: 'soon' }), /BENCH_STREAM_ITL_MS/);
});

void test("a process tree's CPU includes its busy children", async () => {
  // The child spins for ~300 ms of CPU; the parent only waits.
  const busyChild = `const end = Date.now() + 300; while (Date.now() < end) {}`;
  const parent = spawn(
    process.execPath,
    ['-e', `require('node:child_process').spawnSync(process.execPath, ['-e', ${JSON.stringify(busyChild)}]); setInterval(() => {}, 1000);`],
    {
      stdio: 'ignore',
      detached: true,
    },
  );
  try {
    let tree: number[] = [];
    for (let i = 0; i < 100 && tree.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      tree = processTree(parent.pid!);
    }
    assert.equal(tree.length, 2, 'the child is running');
    const before = treeCpuSeconds([parent.pid]);
    await new Promise((r) => setTimeout(r, 200));
    const during = treeCpuSeconds([parent.pid, parent.pid]);
    // The parent alone is idle (blocked in spawnSync): what grew is the child's.
    assert.ok(during - before >= 0.1, `tree CPU grew ${during - before} s while the child spun`);
    assert.ok(cpuSeconds(parent.pid) < during, 'the parent alone is less than the tree');
  } finally {
    process.kill(-parent.pid!, 'SIGKILL');
  }
});

void test('BENCH_CHAT_TURNS adds earlier turns of alternating roles, ~270 bytes each, and refuses a bad count', () => {
  assert.deepEqual(benchHistory({}), []);
  const turns = benchHistory({ BENCH_CHAT_TURNS: '12' });
  assert.equal(turns.length, 12);
  assert.deepEqual(
    turns.slice(0, 3).map((t) => t.role),
    ['user', 'assistant', 'user'],
  );
  const bytes = Buffer.byteLength(JSON.stringify(turns));
  assert.ok(bytes > 3_000 && bytes < 3_600, `${bytes} bytes`);
  assert.throws(() => benchHistory({ BENCH_CHAT_TURNS: '-1' }), /BENCH_CHAT_TURNS/);
  assert.throws(() => benchHistory({ BENCH_CHAT_TURNS: 'many' }), /BENCH_CHAT_TURNS/);
});

void test("a process's CPU by thread: a busy worker thread shows as WorkerThread, not as the main thread", async () => {
  // The worker thread spins for ~400 ms of CPU; the main thread only waits.
  const worker = `const end = Date.now() + 400; while (Date.now() < end) {} setInterval(() => {}, 1000);`;
  const child = spawn(
    process.execPath,
    ['-e', `new (require('node:worker_threads').Worker)(${JSON.stringify(worker)}, { eval: true }); setInterval(() => {}, 1000);`],
    { stdio: 'ignore' },
  );
  try {
    let threads: Record<string, number> = {};
    for (let i = 0; i < 150 && !((threads.WorkerThread ?? 0) >= 0.3); i++) {
      await new Promise((r) => setTimeout(r, 20));
      threads = threadCpuSeconds(child.pid);
    }
    assert.ok((threads.WorkerThread ?? 0) >= 0.3, `worker thread ${threads.WorkerThread} s`);
    assert.ok((threads.MainThread ?? 0) < (threads.WorkerThread ?? 0), `main thread ${threads.MainThread} s`);
    assert.deepEqual(threadCpuSeconds(undefined), {});
  } finally {
    child.kill('SIGKILL');
  }
});

void test("a process tree's CPU keeps what its exited children used (Postgres's closed backends)", async () => {
  // The child spins for ~300 ms of CPU and exits; the parent reaps it, says so, then idles.
  const busyChild = `const end = Date.now() + 300; while (Date.now() < end) {}`;
  const parent = spawn(
    process.execPath,
    [
      '-e',
      `require('node:child_process').spawnSync(process.execPath, ['-e', ${JSON.stringify(busyChild)}]); console.log('reaped'); setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    await new Promise<void>((resolve) => parent.stdout.once('data', () => resolve()));
    assert.equal(processTree(parent.pid!).length, 1, 'the child is gone');
    const tree = treeCpuSeconds([parent.pid]);
    assert.ok(tree >= 0.25, `tree CPU ${tree} s after the child exited`);
    assert.ok(cpuSeconds(parent.pid) < 0.25, 'the parent alone did not spin');
  } finally {
    parent.kill('SIGKILL');
  }
});
