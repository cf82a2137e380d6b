// RE2JS (linear-time regular expressions for tenant- and operator-written patterns), loaded by the
// first pattern: most processes have no pattern guardrail.
import { lazyRequire } from '../runtime/lazy-require.ts';

export const re2js = lazyRequire<typeof import('re2js')>(import.meta.url, 're2js');
