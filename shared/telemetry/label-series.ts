// The series of a buffered metric (buffered-counter.ts, buffered-histogram.ts), found from a label
// object through one Map per label name: no hash string is built per call, as prom-client does.
type LabelValue = string | number | undefined;
export type LabelSet = Record<string, string | number>;

/** prom-client's series key writes 1 and '1' alike, so they are one series here too. */
const keyOf = (v: LabelValue): LabelValue => (typeof v === 'number' ? String(v) : v);

export class LabelSeries<T extends string, S> {
  /** Every series, in the order they first appeared (prom-client lists its series in that order). */
  readonly all: S[] = [];
  private readonly names: readonly T[];
  private readonly make: (labels: LabelSet) => S;
  private readonly root = new Map<LabelValue, unknown>();

  constructor(names: readonly T[], make: (labels: LabelSet) => S) {
    if (names.length === 0) throw new Error('a buffered metric needs labels');
    this.names = names;
    this.make = make;
  }

  /** The series of `labels`, made on first use (an unknown label name throws, as in prom-client). */
  get(labels: Partial<Record<T, string | number>>): S {
    let node = this.root;
    const last = this.names.length - 1;
    for (let i = 0; i < last; i++) {
      const v = keyOf(labels[this.names[i]!]);
      let next = node.get(v) as Map<LabelValue, unknown> | undefined;
      if (!next) node.set(v, (next = new Map()));
      node = next;
    }
    const v = keyOf(labels[this.names[last]!]);
    let series = node.get(v) as S | undefined;
    if (series === undefined) {
      series = this.make(this.labelsOf(labels));
      node.set(v, series);
      this.all.push(series);
    }
    return series;
  }

  /** Forgets every series (a reset: prom-client lists series in the order they reappear after one). */
  clear(): void {
    this.root.clear();
    this.all.length = 0;
  }

  /** The label set of a new series, checked as prom-client checks it (an unknown name throws). */
  private labelsOf(labels: Partial<Record<T, string | number>>): LabelSet {
    const out: LabelSet = {};
    for (const [name, value] of Object.entries(labels) as Array<[string, string | number | undefined]>) {
      if (!(this.names as readonly string[]).includes(name)) throw new Error(`Added label "${name}" is not included in initial labelset`);
      if (value !== undefined) out[name] = value;
    }
    return out;
  }
}
