// Statements prepared once per connection. Postgres parses and plans every unnamed statement again;
// the ledger's usage insert (a CTE of two inserts, a conflict clause and a rollup) spends more there
// than in its rows when a statement carries 32 of them: 23.8 µs of Postgres CPU per row unnamed, 15.0
// prepared, 13.5 / 12.1 with 256 rows (docs/benchmarks.md, levers row "prepared"). A statement whose
// text starts with PREPARED is sent as a named statement (pg parses it once per connection and
// Postgres keeps its plan), anything else as before. Only on real Postgres: the embedded PGlite has
// one backend that every connection of the pool shares (embedded/wire-session.ts), so a name prepared
// by one connection would collide with another's. DATABASE_PREPARED_STATEMENTS=0 turns it off, for a
// pooler that cannot carry named statements (PgBouncer before 1.21 in transaction mode).

/** The comment a statement starts with to be prepared. */
export const PREPARED = '/* prepared */';

/** Distinct texts named at most: a text is a statement and its column list, so there are a handful. */
const MAX_NAMES = 64;
const names = new Map<string, string>();

/** The name of a statement marked PREPARED (the same for the same text), or null: run it unnamed. */
export function preparedName(text: string): string | null {
  if (!text.startsWith(PREPARED)) return null;
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= MAX_NAMES) return null;
    name = `sy_prepared_${names.size + 1}`;
    names.set(text, name);
  }
  return name;
}
