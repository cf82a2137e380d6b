// A worker whose NATS connection closes while a request is still running (as at shutdown, or in the
// test suite's teardown) logs the failed event publish instead of leaking an unhandled
// ClosedConnectionError rejection, which used to turn a green test run red. It does not retry a closed connection.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { connectNats } from '../../shared/nats/connection.ts';
import { startWorker } from '../../services/worker/worker.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => stack?.close());

describe('worker event publish on a closed connection', () => {
  it('is caught and logged, not an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const logs: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) logs.push(JSON.parse(l) as { level: number; msg: string });
        done();
      },
    });
    const nats = await connectNats(stack.env.NATS_URL!, 'test-worker');
    const worker = await startWorker({ config: stack.runtime.config, nats, log: pino({ level: 'info' }, sink), providers: ['openai'] });
    const abort = new AbortController();
    try {
      stack.mock.reset();
      const pending = fetch(`${stack.url}/v1/chat/completions`, {
        method: 'POST',
        signal: abort.signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x\nmock:{"ttft_ms":400}' }] }),
      }).catch(() => null);
      await waitFor(() => stack.mock.stats.active === 1, { what: 'upstream call in flight' });
      await nats.nc.close();
      // The final event's publish fails (a core publish throws: the request's handling fails; an acked
      // one in a cluster is logged and the usage record's publish then fails): either way the request
      // is left unacked for redelivery, and that is logged as an error.
      const failed = (l: { msg: string }) =>
        l.msg === 'request handling failed' || l.msg === 'usage publish failed; request will be redelivered';
      await waitFor(() => logs.some(failed), { what: 'the failure logged' });
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
      expect(logs.find(failed)!.level).toBe(50);
      abort.abort();
      await pending;
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await worker.close().catch(() => {});
    }
  });
});
