// The batch pump's pacer (a 20 ms tick and a 2 ms event-loop delay monitor) runs only while there is
// something to pace: awake through idle spells it woke the broker ~550 times a second
// (docs/benchmarks.md, levers row "idlepacer"). It must still be awake whenever interactive work is
// present, or paced batch intake would never get tokens.
import { afterEach, describe, expect, it } from 'vitest';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { startBatchPump, type BatchPump } from '../../services/worker/batch-pump.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A consumer whose messages appear when the test adds them; an empty fetch waits like a pull's expiry. */
function fakeJetStream() {
  const state = { left: 0 };
  const consumer = {
    async fetch({ max_messages }: { max_messages: number; expires: number }) {
      const n = Math.min(max_messages, state.left);
      state.left -= n;
      if (n === 0) await sleep(50);
      return (async function* () {
        for (let i = 0; i < n; i++) yield {} as JsMsg;
      })();
    },
  };
  return { js: { consumers: { get: async () => consumer } } as unknown as JetStreamClient, state };
}

let pump: BatchPump | undefined;
afterEach(async () => {
  await pump?.close();
  pump = undefined;
});

async function start(opts: { interactiveInflight: () => number; holdMs?: number; running?: { now: number; peak: number } }) {
  const fake = fakeJetStream();
  pump = await startBatchPump({
    js: fake.js,
    providers: ['openai'],
    log: createLogger('test', 'silent'),
    maxInflight: 64,
    room: () => 64,
    inflight: () => opts.interactiveInflight() + (pump?.inflight ?? 0),
    async run() {
      if (opts.running) opts.running.peak = Math.max(opts.running.peak, ++opts.running.now);
      await sleep(opts.holdMs ?? 1);
      if (opts.running) opts.running.now--;
    },
  });
  return fake.state;
}

describe('batch pump pacer', () => {
  it('sleeps while nothing runs, wakes for an interactive request, sleeps again a second after it', async () => {
    await start({ interactiveInflight: () => 0 });
    await sleep(100);
    expect(pump!.pacing).toBe(false);
    pump!.noteInteractive();
    expect(pump!.pacing).toBe(true);
    await sleep(600);
    expect(pump!.pacing).toBe(true); // within the second interactive work paces batch intake
    await sleep(700);
    expect(pump!.pacing).toBe(false);
  });

  it('stays awake while an interactive request is still running, however long ago it arrived', async () => {
    let interactive = 1;
    await start({ interactiveInflight: () => interactive });
    pump!.noteInteractive();
    await sleep(1_400);
    expect(pump!.pacing).toBe(true);
    interactive = 0;
    await sleep(1_300);
    expect(pump!.pacing).toBe(false);
  });

  it('wakes for a batch line, and paces batch lines while interactive work is present', async () => {
    const running = { now: 0, peak: 0 };
    const state = await start({ interactiveInflight: () => 1, holdMs: 100, running });
    await sleep(100);
    // Interactive work in flight is seen by the pacer's tick; asleep, nothing would refill tokens.
    state.left = 40;
    pump!.noteInteractive();
    await sleep(1_500);
    expect(pump!.pacing).toBe(true);
    expect(state.left).toBeLessThan(40); // lines ran: tokens were refilled
    expect(running.peak).toBeLessThanOrEqual(4); // at most pacedMaxInflight at once
  });

  it('wakes when batch lines arrive with no interactive work', async () => {
    const state = await start({ interactiveInflight: () => 0, holdMs: 300 });
    await sleep(100);
    expect(pump!.pacing).toBe(false);
    state.left = 3;
    await sleep(150);
    expect(pump!.pacing).toBe(true);
  });
});
