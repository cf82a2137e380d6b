// No module of the services loads Node's own copy of undici (3 MB of heap and ~18 MB of RSS per
// process): it comes with the global fetch() and with any ES module import of node:http's values
// (shared/runtime/node-http.ts). Every module under services/ and shared/ is imported in a child
// process (vitest's own process has it loaded already), entry points and worker-thread scripts aside.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const script = `
  import { readdirSync } from 'node:fs';
  import { join, resolve } from 'node:path';
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\\.ts$/.test(p) && !/(^|\\/)main\\.ts$|-thread\\.ts$|\\.d\\.ts$/.test(p)) files.push(p);
    }
  };
  walk('services');
  walk('shared');
  const loadedBy = [];
  for (const f of files) {
    const before = process.moduleLoadList.length;
    await import(resolve(f));
    if (process.moduleLoadList.slice(before).some((m) => m.includes('deps/undici'))) loadedBy.push(f);
  }
  console.log(JSON.stringify({ modules: files.length, loadedBy }));
`;

describe("Node's internal undici", () => {
  it('is not loaded by importing any module of the services', async () => {
    const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd() });
    const out = JSON.parse(r.stdout) as { modules: number; loadedBy: string[] };
    expect(out.modules).toBeGreaterThan(200);
    expect(out.loadedBy).toEqual([]);
  }, 60_000);
});
