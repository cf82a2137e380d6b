// scripts/build.mjs: what `npm start` and the service scripts run is a complete, current compiled copy.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { DIST, ensureBuilt, entryPoint, fingerprint } from '../../scripts/build.mjs';

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(process.cwd(), join(e.parentPath, e.name)));

describe('scripts/build.mjs', () => {
  it('compiles every source to dist/ with the files the services read beside their code, and does not rebuild a current copy', async () => {
    await ensureBuilt({ log: () => {} });
    for (const f of [...files('services'), ...files('shared')]) {
      const built = join(DIST, f.endsWith('.ts') ? f.replace(/\.ts$/, '.js') : f);
      expect(existsSync(built), built).toBe(true);
    }
    expect(await ensureBuilt({ log: () => {} })).toBe(false);
    expect(fileURLToPath((await entryPoint('all')) as string)).toBe(join(DIST, 'services', 'all', 'main.js'));
  }, 60_000);

  it('notices a source edited, added, removed or renamed (the stale check before every start)', () => {
    const root = mkdtempSync(join(tmpdir(), 'sy-build-'));
    for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) writeFileSync(join(root, f), '{}');
    mkdirSync(join(root, 'services', 'a'), { recursive: true });
    mkdirSync(join(root, 'shared'));
    const old = new Date(Date.now() - 60_000);
    const at = (path: string, time = old) => utimesSync(path, time, time);
    writeFileSync(join(root, 'services', 'a', 'main.ts'), 'x');
    writeFileSync(join(root, 'shared', 'b.ts'), 'y');
    for (const p of [
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'services/a/main.ts',
      'shared/b.ts',
      'services/a',
      'services',
      'shared',
    ])
      at(join(root, p));
    const seen = new Set([fingerprint(root)]);
    const changed = (what: string) => {
      const now = fingerprint(root);
      expect(seen.has(now), what).toBe(false);
      seen.add(now);
    };
    at(join(root, 'shared', 'b.ts'), new Date(Date.now() - 30_000)); // edited
    changed('edited');
    writeFileSync(join(root, 'shared', 'c.ts'), 'z');
    at(join(root, 'shared', 'c.ts'), old);
    at(join(root, 'shared'), new Date(Date.now() - 20_000));
    changed('added');
    renameSync(join(root, 'shared', 'c.ts'), join(root, 'shared', 'd.ts'));
    at(join(root, 'shared'), new Date(Date.now() - 10_000));
    changed('renamed');
    rmSync(join(root, 'shared', 'd.ts'));
    at(join(root, 'shared'), new Date(Date.now() - 10_000)); // the same directory mtime as before: only the count tells
    changed('removed');
    rmSync(root, { recursive: true });
  });
});
