// Fastify's schema compilers (ajv for validation, fast-json-stringify for serialisation), loaded on
// first use instead of when the app is built. No route declares a Fastify schema (bodies are checked
// with zod, answers are pre-serialised), so in practice they are never loaded: ajv alone is 88
// modules and about 1 MB of heap in every ingress (docs/benchmarks.md, levers row "lazymodules").
// Should a route ever declare one, it is compiled exactly as by Fastify's defaults.
import { fileURLToPath } from 'node:url';
import type { FastifyServerOptions } from 'fastify';
import { lazyRequire } from '../../shared/runtime/lazy-require.ts';

type CompilersFactory = Required<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>>;
type Selector<K extends keyof CompilersFactory> = () => CompilersFactory[K];

// Resolved from fastify's own folder: the compilers are its dependencies, not ours.
const FASTIFY = fileURLToPath(import.meta.resolve('fastify'));
const validatorSelector = lazyRequire<Selector<'buildValidator'>>(FASTIFY, '@fastify/ajv-compiler');
const serializerSelector = lazyRequire<Selector<'buildSerializer'>>(FASTIFY, '@fastify/fast-json-stringify-compiler');
// One factory of each, made on first use, as Fastify makes its defaults once per app.
let buildValidator: CompilersFactory['buildValidator'] | undefined;
let buildSerializer: CompilersFactory['buildSerializer'] | undefined;

export const lazyCompilersFactory: CompilersFactory = {
  buildValidator: (...args) => (buildValidator ??= validatorSelector()())(...args),
  buildSerializer: (...args) => (buildSerializer ??= serializerSelector()())(...args),
};
