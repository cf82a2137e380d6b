// The pglite project's workers open PGlite in-process and run its WebAssembly with npm start's wasm
// flags (vitest.config.ts, test/harness/npm-scripts.ts): what the tests exercise is what ships, and
// V8's wasm code GC, which a CI worker once died in, has nothing to free under `--liftoff-only`.
import { expect, it } from 'vitest';
import { nodeFlagsOf, wasmFlagsOf } from '../harness/npm-scripts.ts';
import { currentBackend } from '../harness/stack.ts';
import { PGLITE_WORKER_FLAGS } from '../../vitest.config.ts';

it("takes npm start's wasm flags and only those", () => {
  expect(nodeFlagsOf('start')).toContain('--liftoff-only');
  expect(PGLITE_WORKER_FLAGS).toContain('--liftoff-only');
  expect(wasmFlagsOf('x', { x: 'node --max-semi-space-size=16 --no-wasm-code-gc --wasm-tiering-budget=5 --liftoff-only a.mjs' })).toEqual([
    '--no-wasm-code-gc',
    '--wasm-tiering-budget=5',
    '--liftoff-only',
  ]);
});

it.skipIf(currentBackend() !== 'pglite')('runs this pglite worker with them', () => {
  for (const flag of PGLITE_WORKER_FLAGS) expect(process.execArgv).toContain(flag);
});
