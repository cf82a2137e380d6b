// Request ids name the ingress that made them (services/ingress/request-ids.ts), so any ingress finds a
// stream's subject in LLM_EVENTS from the id alone; they keep the shape they had (`req_` + 32 hex).
import { describe, expect, it } from 'vitest';
import { ingressOfRequestId, requestIdMaker } from '../../services/ingress/request-ids.ts';

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
