// Fastify's schema compilers (ajv for validation, fast-json-stringify for serialisation), loaded on
// first use instead of when the app is built. No route declares a Fastify schema (bodies are checked
// with zod, answers are pre-serialised), so in practice they are never loaded: ajv alone is 88
// modules and about 1 MB of heap in every ingress (docs/benchmarks.md, levers row "lazymodules").
// Should a route ever declare one, it is compiled exactly as by Fastify's defaults.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

// Resolved from fastify's own folder: the compilers are its dependencies, not ours.
const fromFastify = createRequire(fileURLToPath(import.meta.resolve('fastify')));

export const lazyCompilersFactory: Required<CompilersFactory> = {
  buildValidator: (...args) => (fromFastify('@fastify/ajv-compiler') as () => Required<CompilersFactory>['buildValidator'])()(...args),
  buildSerializer: (...args) =>
    (fromFastify('@fastify/fast-json-stringify-compiler') as () => Required<CompilersFactory>['buildSerializer'])()(...args),
};
