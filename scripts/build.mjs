// Compiles services/ and shared/ to plain JavaScript in dist/ (tsc with types erased, no type check:
// `npm run typecheck` and the tests do that), for `npm start` and the service scripts. Why: Node's
// own type stripping loads a WebAssembly TypeScript parser into every process that runs .ts files,
// which stays resident: 37 MB of the one-process broker's peak RSS at max load
// (docs/benchmarks.md, lever "source"). The tests run the .ts sources; test/integration/npm-start.test.ts
// runs what this builds.
//
//   node scripts/build.mjs              # build now
//   node scripts/build.mjs --if-stale   # build only when a source changed since the last build
//
// Without TypeScript installed (`npm ci --omit=dev`), entryPoint() falls back to the .ts sources.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = ['services', 'shared'];
const INPUTS = ['package.json', 'tsconfig.json', 'tsconfig.build.json'];
export const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.source-stamp');
const LOCK = `${DIST}.lock`;

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      yield { path, dir: true };
      yield* walk(path);
    } else yield { path, dir: false };
  }
}

/** Changes when a source is edited, added, removed or renamed (file and directory mtimes, and the count). */
export function fingerprint(root = ROOT) {
  let newest = 0;
  let count = 0;
  for (const d of SOURCES) {
    for (const { path } of [{ path: join(root, d) }, ...walk(join(root, d))]) {
      count++;
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  for (const f of INPUTS) newest = Math.max(newest, statSync(join(root, f)).mtimeMs);
  return `${count}:${newest}`;
}

function current(stamp) {
  try {
    return readFileSync(STAMP, 'utf8') === stamp;
  } catch {
    return false;
  }
}

function typescriptCompiler() {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return null;
  }
}

/** Builds into a fresh directory, then swaps it in: a process starting meanwhile never sees half a build. */
function build(stamp, tsc) {
  const tmp = `${DIST}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', tmp], { stdio: 'inherit' });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`tsc -p tsconfig.build.json failed (exit ${r.status ?? r.signal})`);
  }
  // What the services read beside their code (the web console's files).
  for (const d of SOURCES) {
    for (const { path, dir } of walk(join(ROOT, d))) {
      if (dir || path.endsWith('.ts')) continue;
      const to = join(tmp, relative(ROOT, path));
      mkdirSync(join(to, '..'), { recursive: true });
      cpSync(path, to);
    }
  }
  writeFileSync(join(tmp, '.source-stamp'), stamp);
  rmSync(DIST, { recursive: true, force: true });
  renameSync(tmp, DIST);
}

/** One builder at a time (two `npm start`s, or a test and a benchmark); a lock older than 2 minutes is a dead builder's. */
async function withLock(fn) {
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // removed meanwhile
      }
      if (waited > 180_000) throw new Error(`${LOCK} held for 3 minutes`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Builds dist/ unless it is current; true when it built. */
export async function ensureBuilt({ log = (msg) => console.error(msg) } = {}) {
  const stamp = fingerprint();
  if (current(stamp)) return false;
  const tsc = typescriptCompiler();
  if (!tsc) throw new Error('TypeScript is not installed (npm ci --omit=dev): cannot build dist/');
  return withLock(() => {
    if (current(stamp)) return false; // another process built it while we waited
    log('[switchyard] compiling services/ and shared/ to dist/ (no build yet, or a source changed since the last one)');
    build(stamp, tsc);
    return true;
  });
}

/**
 * The file to run for `service` (services/<service>/main): its compiled copy in dist/, built first if
 * stale; the .ts source when TypeScript is not installed and dist/ is missing or stale.
 */
export async function entryPoint(service) {
  const source = join(ROOT, 'services', service, 'main.ts');
  if (!typescriptCompiler()) {
    if (current(fingerprint())) return pathToFileURL(join(DIST, 'services', service, 'main.js')).href;
    console.error('[switchyard] TypeScript is not installed: running the .ts sources with type stripping (more memory)');
    return pathToFileURL(source).href;
  }
  await ensureBuilt();
  return pathToFileURL(join(DIST, 'services', service, 'main.js')).href;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--if-stale')) await ensureBuilt();
  else {
    const tsc = typescriptCompiler();
    if (!tsc) throw new Error('TypeScript is not installed: run npm ci first');
    await withLock(() => build(fingerprint(), tsc));
    console.error(`[switchyard] built ${relative(process.cwd(), DIST) || DIST}`);
  }
}
