// prom-client's Counter.inc() builds a hash string from its label object, checks every label name and
// looks the string up on every call: about 0.5 µs and an allocation each, six times per request
// (docs/benchmarks.md, levers row "bufferedcounters"). A BufferedCounter adds into a plain number per
// label set, found through one Map per label (no string built), and hands prom-client the sums when it
// collects, which it does before every exposition (GET /metrics) and every get(). What a scrape shows
// is the same; only the work moves from every request to every scrape (once per label set).
import { Counter, type CounterConfiguration, type Registry } from 'prom-client';
import { LabelSeries, type LabelSet } from './label-series.ts';

interface Series {
  labels: LabelSet;
  pending: number;
  /** Incremented since the last flush (by 0 too: prom-client shows a series that only ever got 0). */
  touched: boolean;
}

export class BufferedCounter<T extends string> {
  readonly counter: Counter<T>;
  private readonly series: LabelSeries<T, Series>;

  constructor(config: CounterConfiguration<T> & { labelNames: readonly T[]; registers: Registry[] }) {
    this.series = new LabelSeries(config.labelNames, (labels) => ({ labels, pending: 0, touched: false }));
    const flush = () => this.flush();
    this.counter = new Counter<T>({ ...config, collect: flush });
    // A reset (registry.resetMetrics()) drops what was counted so far, the buffered part included.
    const reset = this.counter.reset.bind(this.counter);
    this.counter.reset = () => {
      this.series.clear();
      reset();
    };
  }

  inc(labels: Partial<Record<T, string | number>>, value = 1): void {
    // The checks prom-client makes, made here: a bad value must fail where it is counted, not at a scrape.
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
    if (value < 0) throw new Error('It is not possible to decrease a counter');
    const series = this.series.get(labels);
    series.pending += value;
    series.touched = true;
  }

  /** Hands the sums to prom-client (its collect hook; also callable directly). */
  flush(): void {
    for (const s of this.series.all) {
      if (!s.touched) continue;
      this.counter.inc(s.labels as Partial<Record<T, string | number>>, s.pending);
      s.pending = 0;
      s.touched = false;
    }
  }
}
