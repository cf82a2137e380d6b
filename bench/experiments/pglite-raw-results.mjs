// A standalone reproduction for PGlite's maintainers (docs/benchmarks.md, "Soak"): in PGlite 0.5.16
// `execProtocolRaw` parses every answer and keeps the parsed messages in the instance's protocol
// parser, which only `execProtocol` / `execProtocolStream` reset, so a client that speaks raw protocol
// only grows the heap forever. `execProtocolRawStream` returns the same bytes and keeps nothing.
//
//   node --expose-gc bench/experiments/pglite-raw-results.mjs [statements=20000]
//
// Nothing of Switchyard's is imported: PGlite alone, a simple-query message built by hand.
import { Buffer } from 'node:buffer';
import { PGlite } from '@electric-sql/pglite';

const statements = Number(process.argv[2] ?? 20_000);

/** A frontend Query ('Q') message: type byte, int32 length, the SQL and its NUL. */
function queryMessage(sql) {
  const text = Buffer.from(`${sql}\0`);
  const message = Buffer.alloc(5 + text.length);
  message.write('Q', 0);
  message.writeInt32BE(4 + text.length, 1);
  text.copy(message, 5);
  return message;
}

function heapAfterGc() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

const db = await PGlite.create();
const message = queryMessage("select 1 as one, 'abc' as two");
const ways = {
  execProtocolRaw: (m) => db.execProtocolRaw(m),
  execProtocolRawStream: (m) => db.execProtocolRawStream(m, { onRawData: () => {} }),
};
for (const [name, run] of Object.entries(ways)) {
  for (let i = 0; i < 200; i++) await run(message); // warm up: compiled code, caches
  const before = heapAfterGc();
  for (let i = 0; i < statements; i++) await run(message);
  const grown = heapAfterGc() - before;
  console.log(`${name}: ${statements} statements, heap +${(grown / 1048576).toFixed(1)} MB (${Math.round(grown / statements)} bytes each)`);
}
await db.close();
