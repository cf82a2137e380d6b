// boundQueries (shared/db/query-timeout.ts) on a stand-in client: the callback form pg-pool's own
// pool.query uses, submittables left alone, and a late answer after the bound never reaching the caller.
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { expect, it } from 'vitest';
import { boundQueries, QueryTimeoutError } from '../../shared/db/query-timeout.ts';

type Cb = (err: Error | null, r?: unknown) => void;

/** Answers `select <n>` after n ms; a destroyed stream fails the query in flight, as pg does on close. */
function fakeClient(opts: { socket?: boolean } = {}) {
  const stream = new EventEmitter() as EventEmitter & { destroy(): void; destroyed: boolean };
  stream.destroyed = false;
  const calls: unknown[][] = [];
  const client = {
    connection: opts.socket === false ? {} : { stream },
    query(config: unknown, values?: unknown, cb?: Cb) {
      calls.push([config, values, cb]);
      if (typeof config === 'object' && config && 'submit' in config) return config;
      const ms = Number(String(config).split(' ')[1]);
      const t = setTimeout(() => cb!(null, { rows: [{ ms, values }] }), ms);
      stream.once('close', () => {
        clearTimeout(t);
        cb!(new Error('Connection terminated unexpectedly'));
      });
      return undefined;
    },
  };
  stream.destroy = () => {
    stream.destroyed = true;
    setImmediate(() => stream.emit('close'));
  };
  boundQueries(client as unknown as pg.ClientBase, 100);
  return { client: client as unknown as { query: (...a: unknown[]) => unknown }, stream, calls };
}

it('answers within the bound in both forms, values optional', async () => {
  const { client } = fakeClient();
  await expect(client.query('select 5', [1])).resolves.toEqual({ rows: [{ ms: 5, values: [1] }] });
  const viaCallback = await new Promise((resolve, reject) =>
    client.query('select 5', (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))),
  );
  expect(viaCallback).toEqual({ rows: [{ ms: 5, values: undefined }] });
});

it('fails a query past the bound with QueryTimeoutError once its connection is closed, in both forms', async () => {
  const a = fakeClient();
  const err = await (a.client.query('select 1000') as Promise<unknown>).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(QueryTimeoutError);
  expect(a.stream.destroyed).toBe(true);

  const b = fakeClient();
  const results: unknown[] = [];
  await new Promise<void>((resolve) =>
    b.client.query('select 1000', [], (e: Error | null, r: unknown) => {
      results.push(e ?? r);
      resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 50));
  expect(results).toHaveLength(1); // the caller hears once
  expect(results[0]).toBeInstanceOf(QueryTimeoutError);
});

it('leaves submittables (cursors) to pg', () => {
  const { client, calls } = fakeClient();
  const cursor = { submit() {} };
  expect(client.query(cursor)).toBe(cursor);
  expect(calls[0]).toEqual([cursor, undefined, undefined]);
});

it('without a socket to close, reports the timeout at the bound, and the late answer is not passed on', async () => {
  const { client } = fakeClient({ socket: false });
  const results: unknown[] = [];
  const started = Date.now();
  await new Promise<void>((resolve) =>
    client.query('select 300', (e: Error | null, r: unknown) => {
      results.push(e ?? r);
      resolve();
    }),
  );
  expect(Date.now() - started).toBeLessThan(280);
  await new Promise((r) => setTimeout(r, 350)); // the real answer arrives meanwhile
  expect(results).toHaveLength(1);
  expect(results[0]).toBeInstanceOf(QueryTimeoutError);
});
