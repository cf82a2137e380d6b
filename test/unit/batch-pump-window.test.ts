// The batch pump keeps as many lines in flight as Little's law asks for the time each line holds its
// slot (delivery to end), not the upstream's response time alone: a line also waits for its usage
// record's linger and its acks, and a window sized from a millisecond upstream kept 8 lines of ~27 ms
// in flight, 300 lines/s (docs/benchmarks.md, "Batch").
import { describe, expect, it } from 'vitest';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { startBatchPump } from '../../services/worker/batch-pump.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A consumer holding `total` messages; a fetch with nothing left waits like a real pull's expiry. */
function fakeJetStream(total: number) {
  let left = total;
  const consumer = {
    async fetch({ max_messages }: { max_messages: number; expires: number }) {
      const n = Math.min(max_messages, left);
      left -= n;
      if (n === 0) await sleep(200);
      return (async function* () {
        for (let i = 0; i < n; i++) yield {} as JsMsg;
      })();
    },
  };
  return { consumers: { get: async () => consumer } } as unknown as JetStreamClient;
}

/** Runs `lines` batch lines that each hold their slot `holdMs`; the most in flight once the first 150 ended. */
async function steadyInFlight(holdMs: number, lines: number): Promise<number> {
  let running = 0;
  let ended = 0;
  let peak = 0;
  const pump = await startBatchPump({
    js: fakeJetStream(lines),
    providers: ['openai'],
    log: createLogger('test', 'silent'),
    maxInflight: 128,
    room: () => 128,
    inflight: () => 0, // no interactive work: unpaced
    async run() {
      running++;
      if (ended >= 150) peak = Math.max(peak, running);
      await sleep(holdMs);
      running--;
      ended++;
    },
  });
  while (ended < lines) await sleep(10);
  await pump.close();
  return peak;
}

describe('batch pump window', () => {
  it('keeps lines that wait 50 ms each about 128 × 50 / 200 = 32 at a time', async () => {
    const peak = await steadyInFlight(50, 600);
    // Bounds with room for timers that fire late on a loaded machine (a line then holds longer).
    expect(peak).toBeGreaterThanOrEqual(24);
    expect(peak).toBeLessThanOrEqual(64);
  });

  it('gives lines slower than 200 ms the whole window, and quick ones the floor of 8', async () => {
    expect(await steadyInFlight(250, 600)).toBe(128);
    expect(await steadyInFlight(1, 400)).toBeLessThanOrEqual(16);
  });
});
