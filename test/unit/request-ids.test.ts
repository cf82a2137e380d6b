// Request ids name the ingress that made them (services/ingress/request-ids.ts), so any ingress finds a
// stream's subject in LLM_EVENTS from the id alone, and grow with time, so the usage ledger's primary
// key takes them at its right edge; they keep the shape they had (`req_` + 32 hex).
import { describe, expect, it } from 'vitest';
import { ingressOfRequestId, orderedSuffix, requestIdMaker } from '../../services/ingress/request-ids.ts';

describe('request ids', () => {
  it('carry the ingress id and read it back', () => {
    const make = requestIdMaker('ing0123456789ab');
    const id = make();
    expect(id).toMatch(/^req_0123456789ab[0-9a-f]{20}$/);
    expect(ingressOfRequestId(id)).toBe('ing0123456789ab');
  });

  it('are unique', () => {
    const make = requestIdMaker('ing0123456789ab');
    const ids = new Set(Array.from({ length: 20_000 }, make));
    expect(ids.size).toBe(20_000);
  });

  it('only ever increase within a process, across makers for the same ingress (HTTP and WebSocket)', () => {
    const http = requestIdMaker('ing0123456789ab');
    const ws = requestIdMaker('ing0123456789ab');
    const ids = Array.from({ length: 200_000 }, (_, i) => (i % 3 ? http() : ws()));
    for (let i = 1; i < ids.length; i++) if (!(ids[i]! > ids[i - 1]!)) expect.fail(`${ids[i]} after ${ids[i - 1]}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carry the millisecond they were made in, after the ingress', () => {
    const before = Date.now();
    const id = requestIdMaker('ing0123456789ab')();
    const ms = parseInt(id.slice(16, 27), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
  });

  it('keep increasing when the clock steps back', () => {
    const first = orderedSuffix();
    const afterStepBack = orderedSuffix(Date.now() - 60_000);
    expect(afterStepBack > first).toBe(true);
    expect(afterStepBack.slice(0, 11)).toBe(first.slice(0, 11));
  });

  it("start each millisecond at a random sequence, so one id does not give away the next millisecond's", () => {
    const later = Date.now() + 3_600_000;
    const starts = Array.from({ length: 20 }, (_, i) => parseInt(orderedSuffix(later + i).slice(11), 16));
    expect(new Set(starts).size).toBe(20);
    expect(starts.filter((s, i) => i > 0 && s === starts[i - 1]! + 1)).toEqual([]);
  });

  it('are random where the ingress id is not of the usual shape', () => {
    const make = requestIdMaker('ingA');
    const [x, y] = [make(), make()];
    expect(x).toMatch(/^req_[0-9a-f]{32}$/);
    expect(x.slice(4, 16)).not.toBe(y.slice(4, 16));
  });

  it('name no ingress when not of the shape', () => {
    for (const id of ['req_1', 'req_0123456789ab', `req_${'A'.repeat(32)}`, `xyz_${'0'.repeat(32)}`, `req_${'0'.repeat(33)}`])
      expect(ingressOfRequestId(id)).toBeNull();
  });
});
