// A production install (`npm ci --omit=dev`) must hold what the services import and nothing the
// tests need: testcontainers and @types/pg pulled ~300 packages into every image.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs|js)$/.test(name) ? [path] : [];
  });
}

/** Packages a file loads at runtime (`import type` is erased, so it does not count). */
function runtimeImports(text: string): string[] {
  const specs = [
    ...[...text.matchAll(/^\s*import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*export\s+(?!type\s)[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!),
  ];
  return specs
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

describe('production dependencies', () => {
  it('test-only packages are devDependencies', () => {
    for (const name of ['testcontainers', '@types/pg', 'fast-check', 'vitest']) {
      expect(pkg.dependencies, name).not.toHaveProperty(name);
      expect(pkg.devDependencies, name).toHaveProperty(name);
    }
    expect(Object.keys(pkg.dependencies).filter((n) => n.startsWith('@types/'))).toEqual([]);
  });

  it('every package services/ and shared/ import at runtime is a production dependency', () => {
    const missing: string[] = [];
    const seen = new Set<string>();
    for (const dir of ['services', 'shared']) {
      for (const file of sourceFiles(join(root, dir))) {
        for (const name of runtimeImports(readFileSync(file, 'utf8'))) {
          seen.add(name);
          if (!Object.hasOwn(pkg.dependencies, name)) missing.push(`${file.slice(root.length + 1)}: ${name}`);
        }
      }
    }
    // The scan finds what the services really load (guards against a regex that matches nothing).
    expect([...seen]).toEqual(expect.arrayContaining(['fastify', 'pg', 'zod', '@nats-io/jetstream', 'undici']));
    expect(missing).toEqual([]);
  });
});
