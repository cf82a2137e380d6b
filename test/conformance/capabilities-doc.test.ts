// docs/capabilities.md must be exactly what the claims of the existing tests render to. Together with
// a green suite (every claiming test passes) the document cannot drift from what is proven.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimsOf, FEATURES, fieldClaimsOf, renderCapabilities } from './capabilities.ts';
import { FIXTURES_DIR } from './replay.ts';

describe.skipIf(process.env.SWITCHYARD_CAPABILITIES_RUN === '1')('docs/capabilities.md', () => {
  // The document is rendered from a run with the recordings (../shared/fixtures); without them the
  // recording-backed claims are not listed, so it cannot be reproduced (fixtures.test.ts fails in CI then).
  it.skipIf(!existsSync(FIXTURES_DIR))(
    'matches the capability claims of the tests (regenerate with `npm run capabilities`)',
    () => {
      const out = path.join(mkdtempSync(path.join(tmpdir(), 'capabilities-list-')), 'list.json');
      const list = spawnSync(
        process.execPath,
        ['node_modules/vitest/vitest.mjs', 'list', `--json=${out}`, 'test/conformance', 'test/providers'],
        {
          cwd: process.cwd(),
          encoding: 'utf8',
          env: { ...process.env, SWITCHYARD_CAPABILITIES_RUN: '1' },
        },
      );
      expect(list.status, list.stderr).toBe(0);
      const tests = JSON.parse(readFileSync(out, 'utf8')) as Array<{ name: string }>;
      const claims = tests.flatMap((t) => claimsOf(t.name));
      expect(claims.length).toBeGreaterThan(FEATURES.length);
      const fieldClaims = tests.flatMap((t) => fieldClaimsOf(t.name));
      expect(fieldClaims.length, 'every request field has claims').toBeGreaterThan(0);
      expect(readFileSync(path.resolve(process.cwd(), 'docs/capabilities.md'), 'utf8')).toBe(renderCapabilities(claims, fieldClaims));
    },
    120_000,
  );

  it('rejects a claim of an unknown feature', () => {
    expect(() => claimsOf('x {proves anthropic: telepathy}')).toThrow(/unknown feature/);
    expect(claimsOf('x {proves gemini: text, reasoning}')).toEqual([
      ['gemini', 'text'],
      ['gemini', 'reasoning'],
    ]);
  });
});
