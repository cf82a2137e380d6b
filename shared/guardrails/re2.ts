// RE2JS (linear-time regular expressions for tenant- and operator-written patterns), loaded by the
// first pattern instead of with the guardrail modules: most processes have no pattern guardrail, and
// the engine is 0.26 MB of source in each (docs/benchmarks.md, levers row "lazymodules").
import { createRequire } from 'node:module';

type RE2JSClass = typeof import('re2js').RE2JS;
let loaded: RE2JSClass | undefined;

export function re2(): RE2JSClass {
  return (loaded ??= (createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS);
}
