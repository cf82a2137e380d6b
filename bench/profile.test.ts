// node --test bench/profile.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { summarize, summarizeAllocations } from './profile.ts';

const here = `file://${resolve('.')}`;
// root -> handle (ours) -> parse (a package) ; root -> (garbage collector)
const profile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 4] },
    { id: 2, callFrame: { functionName: 'handle', url: `${here}/services/worker/worker.ts`, lineNumber: 9 }, children: [3] },
    { id: 3, callFrame: { functionName: 'parse', url: `${here}/node_modules/@nats-io/nats-core/lib/parser.js`, lineNumber: 0 } },
    { id: 4, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
  ],
  samples: [2, 3, 3, 3, 4, 4, 4, 4, 4, 4],
  timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10],
};

void test('self time by package and function, inclusive time of our own code', () => {
  const out = summarize(profile, 10);
  const section = (title: string) => out.split('\n\n').find((s) => s.includes(title))!;
  const byBucket = section('self time by package');
  assert.match(byBucket, /60\.0%\s+\(garbage collector\)/);
  assert.match(byBucket, /30\.0%\s+nm\/@nats-io\/nats-core/);
  assert.match(byBucket, /10\.0%\s+services\/worker\/worker\.ts/);
  assert.match(section('self time by function'), /30\.0%\s+parse nm\/@nats-io\/nats-core\/lib\/parser\.js:1/);
  // handle's own 10% plus the 30% of parse called under it; nothing outside services/ and shared/.
  const inclusive = section('inclusive time');
  assert.match(inclusive, /40\.0%\s+handle services\/worker\/worker\.ts:10/);
  assert.doesNotMatch(inclusive, /parse|garbage/);
});

void test('bytes allocated per request by package and function', () => {
  const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
  const head = {
    callFrame: frame('(root)', '', -1),
    selfSize: 0,
    children: [
      {
        callFrame: frame('handle', `${here}/services/worker/worker.ts`, 9),
        selfSize: 2048,
        children: [
          { callFrame: frame('publish', `${here}/node_modules/@nats-io/nats-core/lib/protocol.js`), selfSize: 6144, children: [] },
        ],
      },
    ],
  };
  const out = summarizeAllocations(head, 2, 10); // 8 KB over 2 requests
  assert.match(out, /allocated per request: 4\.00 KB/);
  const section = (title: string) => out.split('\n\n').find((s) => s.includes(title))!;
  assert.match(section('by package'), /3\.00 KB\s+nm\/@nats-io\/nats-core\n\s+1\.00 KB\s+services\/worker\/worker\.ts/);
  assert.match(section('by function'), /1\.00 KB\s+handle services\/worker\/worker\.ts:10/);
});

void test('inclusive time counts the compiled copy in dist/ as ours', () => {
  const compiled = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2] },
      { id: 2, callFrame: { functionName: 'dispatch', url: `${here}/dist/services/ingress/dispatcher.js`, lineNumber: 4 }, children: [3] },
      { id: 3, callFrame: { functionName: 'publish', url: `${here}/node_modules/@nats-io/nats-core/lib/protocol.js`, lineNumber: 0 } },
    ],
    samples: [2, 3, 3, 3],
    timeDeltas: [10, 10, 10, 10],
  };
  const inclusive = summarize(compiled, 10)
    .split('\n\n')
    .find((s) => s.includes('inclusive time'))!;
  assert.match(inclusive, /100\.0%\s+dispatch dist\/services\/ingress\/dispatcher\.js:5/);
});
