// prom-client's Counter.inc() builds a hash string from its label object, checks every label name and
// looks the string up on every call: about 0.5 µs and an allocation each, six times per request
// (docs/benchmarks.md, levers row "bufferedcounters"). A BufferedCounter adds into a plain number per
// label set, found through one Map per label (no string built), and hands prom-client the sums when it
// collects, which it does before every exposition (GET /metrics) and every get(). What a scrape shows
// is the same; only the work moves from every request to every scrape (once per label set).
import { Counter, type CounterConfiguration, type Registry } from 'prom-client';

type LabelValue = string | number | undefined;

interface Series {
  labels: Record<string, string | number>;
  pending: number;
  /** Incremented since the last flush (by 0 too: prom-client shows a series that only ever got 0). */
  touched: boolean;
}

export class BufferedCounter<T extends string> {
  readonly counter: Counter<T>;
  private readonly names: readonly T[];
  private readonly root = new Map<LabelValue, unknown>();
  private readonly series: Series[] = [];

  constructor(config: CounterConfiguration<T> & { labelNames: readonly T[]; registers: Registry[] }) {
    if (config.labelNames.length === 0) throw new Error('a BufferedCounter needs labels');
    this.names = config.labelNames;
    const flush = () => this.flush();
    this.counter = new Counter<T>({ ...config, collect: flush });
    // A reset (registry.resetMetrics()) drops what was counted so far, the buffered part included.
    const reset = this.counter.reset.bind(this.counter);
    this.counter.reset = () => {
      // Forget the series too: prom-client lists series in the order they (re)appear after a reset.
      this.root.clear();
      this.series.length = 0;
      reset();
    };
  }

  inc(labels: Partial<Record<T, string | number>>, value = 1): void {
    // The checks prom-client makes, made here: a bad value must fail where it is counted, not at a scrape.
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
    if (value < 0) throw new Error('It is not possible to decrease a counter');
    let node = this.root;
    const last = this.names.length - 1;
    for (let i = 0; i < last; i++) {
      const v = labels[this.names[i]!];
      let next = node.get(v) as Map<LabelValue, unknown> | undefined;
      if (!next) node.set(v, (next = new Map()));
      node = next;
    }
    const v = labels[this.names[last]!];
    let series = node.get(v) as Series | undefined;
    if (!series) {
      series = { labels: this.labelsOf(labels), pending: 0, touched: false };
      node.set(v, series);
      this.series.push(series);
    }
    series.pending += value;
    series.touched = true;
  }

  /** Hands the sums to prom-client (its collect hook; also callable directly). */
  flush(): void {
    for (const s of this.series) {
      if (!s.touched) continue;
      this.counter.inc(s.labels as Partial<Record<T, string | number>>, s.pending);
      s.pending = 0;
      s.touched = false;
    }
  }

  /** The label set of a new series, checked as prom-client checks it (an unknown name throws). */
  private labelsOf(labels: Partial<Record<T, string | number>>): Record<string, string | number> {
    const out: Record<string, string | number> = {};
    for (const [name, value] of Object.entries(labels) as Array<[string, string | number | undefined]>) {
      if (!(this.names as readonly string[]).includes(name)) throw new Error(`Added label "${name}" is not included in initial labelset`);
      if (value !== undefined) out[name] = value;
    }
    return out;
  }
}
