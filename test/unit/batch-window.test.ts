import { describe, expect, it } from 'vitest';
import { batchWindow } from '../../services/worker/batch-pump.ts';

describe('batch window (Little’s law on upstream latency)', () => {
  it('gives slow upstreams the whole window', () => {
    expect(batchWindow(128, 200)).toBe(128);
    expect(batchWindow(128, 5_000)).toBe(128);
  });
  it('shrinks for fast upstreams, never below the floor', () => {
    expect(batchWindow(128, 1)).toBe(8);
    expect(batchWindow(128, 50)).toBe(32);
    expect(batchWindow(128, 100)).toBe(64);
  });
  it('never exceeds a configured window smaller than the floor', () => {
    expect(batchWindow(4, 1)).toBe(4);
    expect(batchWindow(4, 1_000)).toBe(4);
  });
});
