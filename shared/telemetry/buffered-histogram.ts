// prom-client's Histogram.observe() builds a hash string from its label object, checks every label
// name, looks the string up and searches the buckets on every call: about 0.5 µs each, three or four
// times per request (docs/benchmarks.md, levers row "bufferedhistograms"). A BufferedHistogram, like
// BufferedCounter, finds its series through one Map per label (no string built), counts into plain
// numbers, and hands prom-client the counts when it collects, before every exposition and every get().
//
// prom-client has no public way to add a count of observations at once, so the flush adds into the
// series entry prom-client keeps for the label set (its `hashMap`; the entry is made by the public
// zero() and found by the label object it keeps). Should a prom-client release keep its series
// differently, the probe below sees it at start and every observation goes to observe() as before;
// test/unit/buffered-histogram.test.ts compares the exposition with a plain Histogram's.
import { Histogram, type HistogramConfiguration, type Registry } from 'prom-client';
import { LabelSeries, type LabelSet } from './label-series.ts';

/** What prom-client 15 keeps per label set. */
interface Entry {
  labels: object;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

interface Series {
  labels: LabelSet;
  /** Observations per bucket since the last flush (one beyond the largest bound counts in +Inf only). */
  pending: number[];
  pendingSum: number;
  pendingCount: number;
  /** prom-client's entry for the label set, made at the first flush (a reset forgets the series). */
  entry: Entry | null;
}

function seriesMapOf(h: Histogram): Record<string, Entry> | undefined {
  const map = (h as unknown as { hashMap?: unknown }).hashMap;
  return map && typeof map === 'object' ? (map as Record<string, Entry>) : undefined;
}

/** The entry prom-client made for exactly this label object, if its series look as expected. */
function entryFor(h: Histogram, labels: object, bounds: readonly number[]): Entry | null {
  const map = seriesMapOf(h);
  if (!map) return null;
  for (const e of Object.values(map)) {
    if (e?.labels !== labels) continue;
    const shaped = typeof e.sum === 'number' && typeof e.count === 'number' && bounds.every((b) => typeof e.bucketValues?.[b] === 'number');
    return shaped ? e : null;
  }
  return null;
}

/** Whether this prom-client keeps its series the way the flush expects (checked once, on a throwaway histogram). */
const canAddCounts = (() => {
  try {
    const probe = new Histogram({ name: 'sy_probe', help: 'probe', labelNames: ['a'], buckets: [1, 2], registers: [] });
    const labels = { a: 'x' };
    probe.zero(labels);
    const entry = entryFor(probe, labels, [1, 2]);
    return entry !== null && entry.count === 0 && entry.bucketValues[1] === 0;
  } catch {
    return false;
  }
})();

export class BufferedHistogram<T extends string> {
  readonly histogram: Histogram<T>;
  private readonly bounds: readonly number[];
  private readonly series: LabelSeries<T, Series>;
  private readonly buffered: boolean;

  constructor(config: HistogramConfiguration<T> & { labelNames: readonly T[]; buckets: number[]; registers: Registry[] }) {
    this.series = new LabelSeries(config.labelNames, (labels) => ({
      labels,
      pending: new Array<number>(this.bounds.length).fill(0),
      pendingSum: 0,
      pendingCount: 0,
      entry: null,
    }));
    this.buffered = canAddCounts;
    this.histogram = new Histogram<T>({ ...config, ...(this.buffered && { collect: () => this.flush() }) });
    this.bounds = [...((this.histogram as unknown as { upperBounds?: number[] }).upperBounds ?? config.buckets)];
    // A reset (registry.resetMetrics()) drops what was observed so far, the buffered part included.
    const reset = this.histogram.reset.bind(this.histogram);
    this.histogram.reset = () => {
      this.series.clear();
      reset();
    };
  }

  observe(labels: Partial<Record<T, string | number>>, value: number): void {
    if (!this.buffered) return this.histogram.observe(labels, value);
    // The checks prom-client makes, made here: a bad value must fail where it is observed, not at a scrape.
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
    const series = this.series.get(labels);
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && value > bounds[b]!) b++;
    if (b < bounds.length) series.pending[b]!++;
    series.pendingSum += value;
    series.pendingCount++;
  }

  /** Hands the counts to prom-client (its collect hook; also callable directly). */
  flush(): void {
    if (!this.buffered) return;
    for (const s of this.series.all) {
      if (s.pendingCount === 0) continue;
      if (!s.entry) {
        this.histogram.zero(s.labels as Partial<Record<T, string | number>>);
        s.entry = entryFor(this.histogram, s.labels, this.bounds);
        if (!s.entry) throw new Error('prom-client histogram series not found after zero()');
      }
      const e = s.entry;
      const pending = s.pending;
      for (let b = 0; b < this.bounds.length; b++) {
        if (pending[b] !== 0) {
          e.bucketValues[this.bounds[b]!]! += pending[b]!;
          pending[b] = 0;
        }
      }
      e.sum += s.pendingSum;
      e.count += s.pendingCount;
      s.pendingSum = 0;
      s.pendingCount = 0;
    }
  }
}
