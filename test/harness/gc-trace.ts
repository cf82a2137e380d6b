// The young-generation collections (scavenges) in a process's `--trace-gc-nvp` output. V8 13
// (Node 24) prints one `key=value` line per collection (`gc=s ... pause=0.5 promoted=0 ...`); V8 14
// (Node 26) prints a JSON object per collection (`"gc":"s", "pause":1.0, "promoted":0, ...`). Both
// name the same fields, so one reader serves the tests and bench/ on either runtime.

export interface Scavenge {
  /** Milliseconds the collection paused the thread. */
  pauseMs: number;
  /** Bytes moved to the old generation. */
  promoted: number;
  /** Bytes that survived in the young generation. */
  survived: number;
}

const SCAVENGE = /gc=s |"gc":"s"/;

/** A numeric field of one trace line, in either format; 0 when absent. */
function field(line: string, key: string): number {
  const m = new RegExp(`(?:^|[ ,{])"?${key}"?[=:]([0-9.]+)`).exec(line);
  return m ? Number(m[1]) : 0;
}

export function scavenges(trace: string): Scavenge[] {
  return trace
    .split('\n')
    .filter((line) => SCAVENGE.test(line))
    .map((line) => ({ pauseMs: field(line, 'pause'), promoted: field(line, 'promoted'), survived: field(line, 'new_space_survived') }));
}
