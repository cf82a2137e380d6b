// shared/runtime/id-table.ts: the request path's in-flight registries. It behaves as the Map it
// replaces, and, unlike a Map on Node 24's V8, it does not make every entry outlive the young
// generation once a full GC has run.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IdTable } from '../../shared/runtime/id-table.ts';
import { scavenges } from '../harness/gc-trace.ts';

describe('IdTable', () => {
  it('gets, sets, deletes and counts like a Map, for any id a client can choose', () => {
    const t = new IdTable<number>();
    const ids = ['req_1', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '42', 'a', 'b'];
    ids.forEach((id, i) => t.set(id, i));
    expect(t.size).toBe(ids.length);
    ids.forEach((id, i) => expect([t.has(id), t.get(id)]).toEqual([true, i]));
    expect(t.has('valueOf')).toBe(false);
    expect(t.get('valueOf')).toBeUndefined();
    t.set('a', 100); // a replaced entry is not counted twice
    expect(t.size).toBe(ids.length);
    expect(t.delete('__proto__')).toBe(true);
    expect(t.delete('__proto__')).toBe(false);
    expect(t.size).toBe(ids.length - 1);
    expect(t.has('__proto__')).toBe(false);
    t.set(7, 7); // a numeric id
    expect([t.has(7), t.get(7), t.has('7')]).toEqual([true, 7, true]);
    t.clear();
    expect(t.size).toBe(0);
    expect([...t]).toEqual([]);
  });

  it('iterates the entries present when it starts, skipping those deleted meanwhile', () => {
    const t = new IdTable<string>();
    for (const id of ['x', 'y', 'z']) t.set(id, id.toUpperCase());
    const seen: string[] = [];
    for (const [id, value] of t) {
      seen.push(`${id}=${value}`);
      if (id === 'x') {
        t.delete('y');
        t.set('w', 'W'); // added meanwhile: not visited
      }
    }
    expect(seen).toEqual(['x=X', 'z=Z']);
    expect([...t.values()].sort()).toEqual(['W', 'X', 'Z']);
    t.set('u', undefined as unknown as string); // a stored undefined is still an entry
    expect([t.has('u'), t.size]).toEqual([true, 4]);
  });

  it('keeps no finished entry alive for the young-generation GC after a full GC (a Map does on V8 13)', () => {
    // A registry that gains and loses an entry per "request" (about 8 alive at a time), with garbage
    // between them so the young generation is scavenged every few hundred requests; one full GC early
    // on; the bytes each later scavenge promoted to the old generation, summed (--trace-gc-nvp).
    const promotedAfterFullGc = (kind: 'idtable' | 'map') => {
      const child = `
        const { IdTable } = await import(${JSON.stringify(pathToFileURL(resolve('shared/runtime/id-table.ts')).href)});
        const registry = ${kind === 'map' ? 'new Map()' : 'new IdTable()'};
        let sink;
        const makeRequest = (id) => { const o = { id, parts: [] }; for (let i = 0; i < 100; i++) o.parts.push({ i, s: 'part ' + i + ' of ' + id }); return o; };
        for (let n = 0; n < 6000; n++) {
          if (n === 1000) { globalThis.gc(); console.log('AFTER FULL GC'); }
          registry.set('req_' + n, makeRequest(n));
          registry.delete('req_' + (n - 8));
          const junk = []; for (let j = 0; j < 1000; j++) junk.push({ j }); sink = junk;
        }
      `;
      const run = spawnSync(
        process.execPath,
        ['--max-semi-space-size=16', '--min-semi-space-size=16', '--expose-gc', '--trace-gc-nvp', '--input-type=module', '-e', child],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(run.status, run.stderr).toBe(0);
      const after = run.stdout.slice(run.stdout.indexOf('AFTER FULL GC'));
      const young = scavenges(after);
      expect(young.length).toBeGreaterThan(10); // the requests went through the young generation
      return young.reduce((sum, s) => sum + s.promoted, 0);
    };
    // 5,000 requests of ~10 KB after the full GC: ~0.2 MB promoted with the IdTable; with a Map on
    // Node 24 every one of them, ~50 MB (measured).
    const table = promotedAfterFullGc('idtable');
    expect(table, `promoted ${(table / 1e6).toFixed(2)} MB`).toBeLessThan(5e6);
    // The same load through a Map shows what the IdTable is for, on the V8 that has the effect.
    if (process.versions.v8.startsWith('13.')) {
      const map = promotedAfterFullGc('map');
      expect(map, `a Map promoted ${(map / 1e6).toFixed(1)} MB`).toBeGreaterThan(25e6);
    }
  }, 60_000);
});
