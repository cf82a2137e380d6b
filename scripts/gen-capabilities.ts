// `npm run capabilities`: runs the conformance and provider tests and writes docs/capabilities.md
// from the capability claims of the tests that passed. `--check` compares instead of writing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { claimsOf, fieldClaimsOf, renderCapabilities, type Feature } from '../test/conformance/capabilities.ts';

const root = path.resolve(import.meta.dirname, '..');
const docPath = path.join(root, 'docs/capabilities.md');
const out = path.join(mkdtempSync(path.join(tmpdir(), 'capabilities-')), 'results.json');

const run = spawnSync(
  process.execPath,
  [
    path.join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    'test/conformance',
    'test/providers',
    // The pglite project repeats a subset of e2e on the other storage backend: no new claims.
    '--project=unit',
    '--project=postgres',
    '--reporter=json',
    `--outputFile=${out}`,
  ],
  // The drift check compares against the file this script is about to write; it sits this run out.
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SWITCHYARD_CAPABILITIES_RUN: '1' } },
);

interface JsonReport {
  testResults: Array<{ assertionResults: Array<{ title: string; status: string }> }>;
}
const report = JSON.parse(readFileSync(out, 'utf8')) as JsonReport;
const results = report.testResults.flatMap((f) => f.assertionResults);
const failed = results.filter((r) => r.status === 'failed');
if (run.status !== 0 || failed.length) {
  console.error(`capabilities: ${failed.length} test(s) failed; docs/capabilities.md left unchanged`);
  process.exit(1);
}
const claims: Array<[string, Feature]> = results.filter((r) => r.status === 'passed').flatMap((r) => claimsOf(r.title));
const passed = results.filter((r) => r.status === 'passed');
const doc = renderCapabilities(
  claims,
  passed.flatMap((r) => fieldClaimsOf(r.title)),
);

if (process.argv.includes('--check')) {
  const current = readFileSync(docPath, 'utf8');
  if (current !== doc) {
    console.error('docs/capabilities.md is out of date: run `npm run capabilities`');
    process.exit(1);
  }
  console.log('docs/capabilities.md is up to date');
} else {
  writeFileSync(docPath, doc);
  console.log(`wrote ${path.relative(root, docPath)} from ${claims.length} claims of ${results.length} tests`);
}
