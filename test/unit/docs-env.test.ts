// docs/architecture.md is the public contract for the environment: every variable the env schema
// accepts must be in its configuration table with the schema's default, and the table must not
// name variables nothing reads. Adding an env var without documenting it fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../shared/config/env.ts';

const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

/** The rows of the "Configuration (environment)" table. */
function envTableRows(markdown: string): string[] {
  const section = /^## Configuration \(environment\)\n([\s\S]*?)(?=^## )/m.exec(markdown)?.[1] ?? '';
  return section.split('\n').filter((l) => l.startsWith('| `'));
}

/** Variables named in a row's first cell. */
function namesIn(row: string): string[] {
  const firstCell = row.split('|')[1] ?? '';
  return [...firstCell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The schema's default for `key`, as the table writes it, or null without one. */
function schemaDefault(key: keyof typeof envSchema.shape): string | null {
  const parsed = envSchema.shape[key].safeParse(undefined);
  return parsed.success && parsed.data !== undefined ? String(parsed.data) : null;
}

// Read outside shared/config/env.ts, documented in the same table.
const READ_ELSEWHERE = [
  'SWITCHYARD_CONFIG',
  'WORKER_PROVIDERS',
  'NATS_SERVER_BIN',
  'LOCAL_ANSWERS',
  'LOCAL_EXECUTION',
  'LOCAL_USAGE',
  '<PROVIDER>_API_KEY',
  '<PROVIDER>_BASE_URL',
];

const schemaKeys = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];
const rows = envTableRows(doc);

describe('docs/architecture.md configuration table', () => {
  it('is found and the schema has keys (the checks below are not vacuous)', () => {
    expect(rows.length).toBeGreaterThan(10);
    expect(schemaKeys.length).toBeGreaterThan(30);
  });

  it('lists every env var the schema accepts', () => {
    const documented = new Set(rows.flatMap(namesIn));
    expect(schemaKeys.filter((k) => !documented.has(k))).toEqual([]);
  });

  it("gives each variable's schema default in its row", () => {
    const wrong: string[] = [];
    for (const key of schemaKeys) {
      const def = schemaDefault(key);
      if (def === null) continue;
      const row = rows.find((r) => namesIn(r).includes(key));
      if (row && !row.includes(`\`${def}\``)) wrong.push(`${key} (default ${def})`);
    }
    expect(wrong).toEqual([]);
  });

  it('names no variable that nothing reads', () => {
    const known = new Set<string>([...schemaKeys, ...READ_ELSEWHERE]);
    const stale = rows.flatMap(namesIn).filter((n) => !known.has(n));
    expect(stale).toEqual([]);
  });
});
