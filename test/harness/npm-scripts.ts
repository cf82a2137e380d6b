// package.json's scripts are where the services' V8 flags live; the benchmarks, the `npm start` test
// and the deployment-manifest checks read them from here instead of repeating them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const npmScripts = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }
).scripts;

/** The scripts of another checkout's package.json (bench/levers.ts runs a baseline as it shipped). */
export function npmScriptsIn(dir: string): Record<string, string> {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
}

/** The Node flags an npm script passes (`--max-semi-space-size=16` ...). */
export function nodeFlagsOf(script: string, scripts: Record<string, string> = npmScripts): string[] {
  return scripts[script]!.split(/\s+/).filter((arg) => arg.startsWith('--'));
}

/**
 * The flags of an npm script that decide how V8 runs WebAssembly (`--liftoff-only`). Whatever opens the
 * embedded PGlite in the tests (the pglite project's vitest workers, the all-in-one processes they
 * spawn) runs its wasm as `npm start` does: what ships is what is tested, and under `--liftoff-only`
 * V8's wasm code GC has no tiered-out code to free (a CI worker died in that GC once, with
 * `Check failed: jit_page.has_value()`; CONTRIBUTING.md).
 */
export function wasmFlagsOf(script: string, scripts: Record<string, string> = npmScripts): string[] {
  return nodeFlagsOf(script, scripts).filter((flag) => flag === '--liftoff-only' || /^--(no-)?wasm-/.test(flag));
}

/** The all-in-one process (what `npm start` runs) as the tests spawn it: with npm start's wasm flags. */
export function allInOneArgs(): string[] {
  return [...wasmFlagsOf('start'), 'services/all/main.ts'];
}

/** A service script as a container runs it: the compiled entry point, directly (deploy/Dockerfile has no TypeScript). */
export function containerCommand(script: string): string[] {
  return npmScripts[script]!.replace(/scripts\/service\.mjs (\S+)/, 'dist/services/$1/main.js').split(/\s+/);
}

/**
 * This process's environment as a fresh machine's: no provider keys or base URLs, no bootstrap key,
 * no mode, no HOST, no DATABASE_URL (so `npm start` takes its embedded PGlite), no NODE_OPTIONS.
 */
export function freshMachineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/_API_KEY$|_BASE_URL$|^HOST$|^SWITCHYARD_|^DATABASE_URL$|^SIMULATOR_URL$|^NODE_OPTIONS$/.test(k)) continue;
    env[k] = v;
  }
  return env;
}
