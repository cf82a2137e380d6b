// A bound on every query, so a connection whose server vanished (or a statement stuck behind a lock)
// fails the caller instead of waiting forever.
//
// Not pg's own `query_timeout`, and not pg's promise form of client.query (the one kysely calls):
// measured with `--trace-gc-nvp` on the usage ledger (docs/benchmarks.md, "ledger queries"), either
// one leaves ~1 MB of every young-generation GC's garbage alive into the old generation (the ledger
// copied ~0.9 MB per scavenge, its queries' graphs; with the callback form and this timer, 0.05 MB).
// So a string query is run in pg's callback form, with one timer that, when it fires, closes the
// connection and fails the query: the pool discards that client instead of reusing it with a reply
// still owed on it.
import type pg from 'pg';
import { preparedName } from './prepared.ts';

export const QUERY_TIMEOUT_MS = 15_000;

export class QueryTimeoutError extends Error {
  readonly code = 'QUERY_TIMEOUT';
  constructor(ms: number) {
    super(`query timed out after ${ms} ms; its connection was closed`);
    this.name = 'QueryTimeoutError';
  }
}

type QueryCallback = (err: Error | null, result?: pg.QueryResult) => void;
type AnyQuery = (config: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * Replaces `client.query` so that every text or config query is bounded by `timeoutMs`. With `prepare`,
 * a text marked as prepared (prepared.ts) goes as a named statement.
 */
export function boundQueries(client: pg.ClientBase, timeoutMs: number = QUERY_TIMEOUT_MS, prepare = false): void {
  const query = (client.query as AnyQuery).bind(client);
  const bounded: AnyQuery = (config, values, callback) => {
    // Submittables (pg-cursor, pg-query-stream) read across several round trips: left as they are.
    if (config && typeof (config as { submit?: unknown }).submit === 'function') return query(config, values, callback);
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    if (prepare && typeof config === 'string') {
      const name = preparedName(config);
      if (name !== null) {
        config = { name, text: config, values };
        values = undefined;
      }
    }
    const run = (done: QueryCallback) => {
      let timedOut = false;
      let reported = false;
      const report: QueryCallback = (err, result) => {
        if (reported) return;
        reported = true;
        done(err, result);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        // pg reports the query failed once it sees the connection close, and marks the client
        // unusable first, so the pool discards it rather than lending it out again: the caller
        // hears of the timeout from there (reporting it now, the client could go back to the pool
        // before pg knew its connection was gone). Without a socket to close, it is reported now.
        const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
        if (stream) stream.destroy();
        else report(new QueryTimeoutError(timeoutMs));
      }, timeoutMs);
      query(config, values, (err: Error | null, result?: pg.QueryResult) => {
        clearTimeout(timer);
        report(timedOut ? new QueryTimeoutError(timeoutMs) : err, result);
      });
    };
    if (typeof callback === 'function') {
      run(callback as QueryCallback);
      return undefined;
    }
    return new Promise<pg.QueryResult>((resolve, reject) => run((err, result) => (err ? reject(err) : resolve(result!))));
  };
  (client as unknown as { query: AnyQuery }).query = bounded;
}
