// shared/db/prepared.ts: which statement texts run as named statements, under which names.
import { describe, expect, it } from 'vitest';
import { PREPARED, preparedName } from '../../shared/db/prepared.ts';

describe('preparedName', () => {
  it('names a marked text, the same name for the same text and another for another text', () => {
    const a = `${PREPARED} select 1`;
    const b = `${PREPARED} select 2`;
    const name = preparedName(a);
    expect(name).toMatch(/^sy_prepared_\d+$/);
    expect(preparedName(a)).toBe(name);
    expect(preparedName(b)).not.toBe(name);
  });

  it('leaves an unmarked text unnamed, also when the marker is not at its start', () => {
    expect(preparedName('select 1')).toBeNull();
    expect(preparedName(` ${PREPARED} select 1`)).toBeNull();
  });

  it('stops naming new texts after 64, and keeps the names it gave', () => {
    const first = preparedName(`${PREPARED} select 'first'`);
    for (let i = 0; i < 100; i++) preparedName(`${PREPARED} select ${i} + 1000`);
    expect(preparedName(`${PREPARED} select 'never seen'`)).toBeNull();
    expect(preparedName(`${PREPARED} select 'first'`)).toBe(first);
  });
});
