// The in-flight registries of the request path (the ingress's waiting requests, the worker's jobs, the
// publisher's unacknowledged publishes) are keyed by id and gain and lose an entry with every request.
// They are not Maps on purpose. On Node 24 (V8 13.6) a Map or Set that keeps being added to and deleted
// from replaces its hash table every few dozen changes, and the table it leaves keeps a link to its
// successor. The first full GC moves the current table to the old generation; from then on each dead
// table, being old, keeps the next one alive through every scavenge (the young GC treats old objects as
// live), and with it every entry that table held: every request's objects were promoted, about 1.4 MB
// per scavenge at load instead of 0.07 MB, until the next full GC started the chain again (docs/
// benchmarks.md, levers row "idtable"). An object in dictionary mode has no such link. Node 26 (V8 14)
// no longer shows it (test/unit/id-table.test.ts measures both kinds in a child process), yet there
// too Maps in its place cost 1.15x the broker's CPU per request (levers row "idmap").
// The price: a string id used as a property name is internalized, a ~60-byte copy in the old generation
// until the next full GC (about 12% of what it gains per request at max load). Hashing ids to integer
// keys avoided that but cost ~0.6 µs per table and request for no lower peak (levers row "idhash").

export type Id = string | number;

export class IdTable<V> {
  private readonly entries: Record<Id, V | undefined>;
  private count = 0;

  constructor() {
    const entries: Record<string, V | undefined> = Object.create(null);
    // Deleting a property that is not the newest turns the object into a dictionary now, rather than
    // after a run of hidden-class transitions, one per new id.
    entries.a = undefined;
    entries.b = undefined;
    delete entries.a;
    delete entries.b;
    this.entries = entries;
  }

  get size(): number {
    return this.count;
  }

  get(id: Id): V | undefined {
    return this.entries[id];
  }

  has(id: Id): boolean {
    return id in this.entries;
  }

  set(id: Id, value: V): this {
    if (!(id in this.entries)) this.count++;
    this.entries[id] = value;
    return this;
  }

  delete(id: Id): boolean {
    if (!(id in this.entries)) return false;
    delete this.entries[id];
    this.count--;
    return true;
  }

  clear(): void {
    for (const id in this.entries) delete this.entries[id];
    this.count = 0;
  }

  /**
   * The entries present when the iteration starts that are still present when reached (as a Map
   * iterates, minus entries added meanwhile): callers delete while iterating. Keys come back as strings.
   */
  *[Symbol.iterator](): IterableIterator<[string, V]> {
    for (const id of Object.keys(this.entries)) if (id in this.entries) yield [id, this.entries[id] as V];
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this) yield value;
  }
}
