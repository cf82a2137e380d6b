// BufferedCounter (shared/telemetry/buffered-counter.ts) must expose exactly what a prom-client
// Counter given the same increments exposes, at every scrape, whatever the label values; and refuse
// what prom-client refuses, when it is counted.
import fc from 'fast-check';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BufferedCounter } from '../../shared/telemetry/buffered-counter.ts';

const labelNames = ['provider', 'model', 'status'] as const;
type Labels = Partial<Record<(typeof labelNames)[number], string | number>>;

const labelValue = fc.oneof(fc.constantFrom('openai', 'anthropic', '', 'a"b', 'back\\slash', 'new\nline'), fc.integer({ min: 0, max: 3 }));
const labels: fc.Arbitrary<Labels> = fc.record(
  { provider: labelValue, model: labelValue, status: labelValue },
  { requiredKeys: ['provider'] }, // some increments leave labels out, as prom-client allows
);
const op = fc.oneof(
  fc.record({
    kind: fc.constant('inc' as const),
    labels,
    value: fc.oneof(fc.constant(undefined), fc.constant(0), fc.double({ min: 0, max: 1e6, noNaN: true })),
  }),
  fc.record({ kind: fc.constant('scrape' as const) }),
  fc.record({ kind: fc.constant('reset' as const) }),
);

function pair() {
  const plainRegistry = new Registry();
  const bufferedRegistry = new Registry();
  const plain = new Counter({ name: 'sy_test_total', help: 'test', labelNames, registers: [plainRegistry] });
  const buffered = new BufferedCounter({ name: 'sy_test_total', help: 'test', labelNames, registers: [bufferedRegistry] });
  return { plain, buffered, plainRegistry, bufferedRegistry };
}

describe('BufferedCounter', () => {
  it('exposes what a prom-client Counter exposes after the same increments, at every scrape and after a reset', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const { plain, buffered, plainRegistry, bufferedRegistry } = pair();
        for (const o of [...ops, { kind: 'scrape' as const }]) {
          if (o.kind === 'inc') {
            plain.inc(o.labels, o.value);
            buffered.inc(o.labels, o.value);
          } else if (o.kind === 'reset') {
            plain.reset();
            buffered.counter.reset();
          } else {
            expect(await bufferedRegistry.metrics()).toBe(await plainRegistry.metrics());
            expect(await buffered.counter.get()).toEqual(await plain.get());
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a value or a label name prom-client refuses, at the increment', () => {
    const { buffered } = pair();
    expect(() => buffered.inc({ provider: 'openai' }, -1)).toThrow(/decrease/);
    expect(() => buffered.inc({ provider: 'openai' }, Number.NaN)).toThrow(TypeError);
    expect(() => buffered.inc({ provider: 'openai' }, Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => buffered.inc({ provider: 'openai', tenant: 't1' } as Labels)).toThrow(/not included/);
  });
});
