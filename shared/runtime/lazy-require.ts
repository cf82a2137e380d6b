// A package loaded the first time it is used rather than when the module naming it is imported, for
// packages only some deployments need (docs/benchmarks.md, levers row "lazymodules"): a process
// without a config file, a terminal or a given kind of guardrail never pays their heap.
// test/unit/module-footprint.test.ts checks that importing the services loads none of them.
import { createRequire } from 'node:module';

/** `() => require(id)` resolved from `from` (a module's URL or a file path), loaded once. */
export function lazyRequire<T>(from: string, id: string): () => T {
  let loaded: { value: T } | undefined;
  return () => (loaded ??= { value: createRequire(from)(id) as T }).value;
}
