// test/harness/gc-trace.ts reads both --trace-gc-nvp formats, and the one of the Node running the test.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { scavenges } from '../harness/gc-trace.ts';

describe('scavenges in a --trace-gc-nvp trace', () => {
  it("reads V8 13's key=value lines and V8 14's JSON objects alike, and skips full collections", () => {
    const v8v13 = [
      '[1:0x1]  20 ms: pause=0.5 mutator=3.2 gc=s reduce_memory=0 promoted=1024 new_space_survived=2048 nodes_died_in_new=0',
      '[1:0x1]  40 ms: pause=7.5 mutator=1.0 gc=ms reduce_memory=0 promoted=0 new_space_survived=0',
    ].join('\n');
    const v8v14 = [
      '[1:0x1:0]  20 ms: GC: {"pause":0.4,"mutator":16.3,"gc":"s","promoted":4096,"semi_space_copied":1,"new_space_survived":117200}',
      '[1:0x1:0]  40 ms: GC: {"pause":9.1,"gc":"mc","promoted":0,"new_space_survived":0}',
    ].join('\n');
    expect(scavenges(v8v13)).toEqual([{ pauseMs: 0.5, promoted: 1024, survived: 2048 }]);
    expect(scavenges(v8v14)).toEqual([{ pauseMs: 0.4, promoted: 4096, survived: 117200 }]);
  });

  it("finds this runtime's scavenges", () => {
    const run = spawnSync(
      process.execPath,
      [
        '--max-semi-space-size=1',
        '--trace-gc-nvp',
        '-e',
        'let a = []; for (let i = 0; i < 3e5; i++) { a.push({ i }); if (a.length > 1000) a = []; }',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const found = scavenges(run.stdout);
    expect(found.length).toBeGreaterThan(5);
    // A short pause prints as 0.0 on a busy machine; the fields are read when some are above it.
    expect(found.some((s) => s.pauseMs > 0)).toBe(true);
    expect(found.some((s) => s.survived > 0)).toBe(true);
  });
});
