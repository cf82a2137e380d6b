// What a service process loads just by importing its modules: not Node's own copy of undici (3 MB of
// heap and ~18 MB of RSS; it comes with the global fetch() and with any ES module import of node:http's
// values, shared/runtime/node-http.ts), and not the packages only some deployments use (the YAML
// parser without a config file, pino-pretty without a terminal, RE2JS without a pattern guardrail, ajv without a json_schema guardrail
// or a Fastify schema). Every module under services/ and shared/ is imported in a child process
// (vitest's own process has loaded all of these already), entry points and worker-thread scripts aside.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazyCompilersFactory } from '../../services/ingress/fastify-compilers.ts';
import { lazyRequire } from '../../shared/runtime/lazy-require.ts';

const OPTIONAL = ['yaml', 'pino-pretty', 're2js', 'ajv', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'];

const script = `
  import { readdirSync } from 'node:fs';
  import { createRequire } from 'node:module';
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
  const undiciBy = [];
  for (const f of files) {
    const before = process.moduleLoadList.length;
    await import(resolve(f));
    if (process.moduleLoadList.slice(before).some((m) => m.includes('deps/undici'))) undiciBy.push(f);
  }
  const packages = new Set();
  for (const f of Object.keys(createRequire(import.meta.url).cache)) {
    const m = /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(f);
    if (m) packages.add(m[1]);
  }
  console.log(JSON.stringify({ modules: files.length, undiciBy, packages: [...packages] }));
`;

describe('what importing the services loads', () => {
  it("neither Node's internal undici nor the packages only some deployments use", async () => {
    const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd() });
    const out = JSON.parse(r.stdout) as { modules: number; undiciBy: string[]; packages: string[] };
    expect(out.modules).toBeGreaterThan(200);
    expect(out.undiciBy).toEqual([]);
    expect(out.packages).toContain('fastify'); // the check sees CommonJS packages loaded by an import
    expect(out.packages.filter((p) => OPTIONAL.includes(p))).toEqual([]);
  }, 60_000);
});

describe("Fastify's schema compilers, loaded on first use", () => {
  it('still validate and serialise a route that declares a schema', async () => {
    const app = Fastify({ schemaController: { compilersFactory: lazyCompilersFactory } });
    app.post(
      '/echo',
      {
        schema: {
          body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
          response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } },
        },
      },
      async (req) => ({ n: (req.body as { n: number }).n, dropped: true }),
    );
    const bad = await app.inject({ method: 'POST', url: '/echo', payload: { n: 'x' } });
    expect(bad.statusCode).toBe(400);
    const ok = await app.inject({ method: 'POST', url: '/echo', payload: { n: 3 } });
    expect(ok.json()).toEqual({ n: 3 }); // the response schema's serializer dropped the extra field
    await app.close();
  });
});

describe('lazyRequire', () => {
  it('loads the package at the first call, not before, and once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lazy-require-'));
    const counter = globalThis as { lazyRequireLoads?: number };
    counter.lazyRequireLoads = 0;
    writeFileSync(join(dir, 'probe.cjs'), 'globalThis.lazyRequireLoads++; module.exports = { answer: 42 };');
    const probe = lazyRequire<{ answer: number }>(join(dir, 'index.js'), './probe.cjs');
    expect(counter.lazyRequireLoads).toBe(0);
    expect(probe().answer).toBe(42);
    expect(probe()).toBe(probe());
    expect(counter.lazyRequireLoads).toBe(1);
  });
});
