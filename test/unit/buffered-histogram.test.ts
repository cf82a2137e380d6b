// BufferedHistogram (shared/telemetry/buffered-histogram.ts) must expose exactly what a prom-client
// Histogram given the same observations exposes, at every scrape and after a reset, whatever the
// label values and wherever the values fall among the buckets; and refuse what prom-client refuses,
// when it is observed.
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BufferedHistogram } from '../../shared/telemetry/buffered-histogram.ts';

const labelNames = ['provider', 'model'] as const;
type Labels = Partial<Record<(typeof labelNames)[number], string | number>>;
// Dyadic bounds (1/256, 1/128, ...): observed as values too, they must add up exactly (below).
const buckets = [0.00390625, 0.0078125, 0.5, 1, 2.5];

const labelValue = fc.oneof(
  fc.constantFrom('openai', 'anthropic', '', 'a"b', 'back\\slash', 'new\nline', '1'),
  fc.integer({ min: 0, max: 2 }),
);
const labels: fc.Arbitrary<Labels> = fc.record({ provider: labelValue, model: labelValue }, { requiredKeys: ['provider'] });
// Multiples of 2^-12 add up exactly in any order, so the sums compare exactly; bucket bounds and
// values beyond the last bound (+Inf only) and below zero are included on purpose.
const value = fc.oneof(
  fc.constantFrom(...buckets, 0, 3, -1),
  fc.integer({ min: -4_096, max: 20_000 }).map((n) => n / 4_096),
);
const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('observe' as const), labels, value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('scrape' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const) }) },
);

function pair() {
  const plainRegistry = new Registry();
  const bufferedRegistry = new Registry();
  const plain = new Histogram({ name: 'sy_test_seconds', help: 'test', labelNames, buckets, registers: [plainRegistry] });
  const buffered = new BufferedHistogram({ name: 'sy_test_seconds', help: 'test', labelNames, buckets, registers: [bufferedRegistry] });
  return { plain, buffered, plainRegistry, bufferedRegistry };
}

describe('BufferedHistogram', () => {
  it('exposes what a prom-client Histogram exposes after the same observations, at every scrape', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
        const { plain, buffered, plainRegistry, bufferedRegistry } = pair();
        for (const o of [...ops, { kind: 'scrape' as const }]) {
          if (o.kind === 'observe') {
            plain.observe(o.labels, o.value);
            buffered.observe(o.labels, o.value);
          } else if (o.kind === 'reset') {
            plain.reset();
            buffered.histogram.reset();
          } else {
            expect(await bufferedRegistry.metrics()).toBe(await plainRegistry.metrics());
            expect(await buffered.histogram.get()).toEqual(await plain.get());
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('counts observations made between scrapes, not only the first ones (the flush adds, never overwrites)', async () => {
    const { buffered, bufferedRegistry } = pair();
    buffered.observe({ provider: 'openai' }, 0.25);
    await bufferedRegistry.metrics();
    buffered.observe({ provider: 'openai' }, 0.25);
    buffered.observe({ provider: 'openai' }, 9);
    const text = await bufferedRegistry.metrics();
    expect(text).toContain('sy_test_seconds_bucket{le="0.5",provider="openai"} 2');
    expect(text).toContain('sy_test_seconds_bucket{le="+Inf",provider="openai"} 3');
    expect(text).toContain('sy_test_seconds_count{provider="openai"} 3');
    expect(text).toContain('sy_test_seconds_sum{provider="openai"} 9.5');
  });

  it('refuses a value or a label name prom-client refuses, at the observation', () => {
    const { buffered } = pair();
    expect(() => buffered.observe({ provider: 'openai' }, Number.NaN)).toThrow(TypeError);
    expect(() => buffered.observe({ provider: 'openai' }, Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => buffered.observe({ provider: 'openai', tenant: 't1' } as Labels, 1)).toThrow(/not included/);
  });
});
