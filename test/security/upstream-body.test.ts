// The worker's caps on upstream bodies, on real Node streams: a whole body over the cap and a
// single streamed event over the cap fail with upstream_response_too_large; many small events do not.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { capUpstreamBody, EventLengthMeter, type UpstreamBody } from '../../services/worker/upstream-body.ts';
import { AdapterError } from '../../shared/providers/types.ts';

function body(parts: string[]) {
  return Readable.from(parts.map((p) => Buffer.from(p)));
}

const limits = { maxBodyBytes: 100, maxEventBytes: 20 };

async function drain(b: UpstreamBody): Promise<number> {
  let n = 0;
  await b.forEachRead((buf) => (n += buf.length));
  return n;
}

describe('upstream body caps', () => {
  it('text() returns a body up to the cap and fails past it, destroying the stream', async () => {
    expect(await capUpstreamBody(body(['a'.repeat(60), 'b'.repeat(40)]), 'application/json', limits).text()).toHaveLength(100);
    const raw = body(['a'.repeat(60), 'b'.repeat(41), 'never read']);
    const err = await capUpstreamBody(raw, 'application/json', limits)
      .text()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as AdapterError).upstream).toMatchObject({ status: 502, retryable: false, error: { code: 'upstream_response_too_large' } });
    expect(raw.destroyed).toBe(true);
  });

  it('text() passes on a read error (an aborted or reset upstream) and stays rejected past the cap', async () => {
    const failing = new Readable({ read() {} });
    const reading = capUpstreamBody(failing, 'application/json', limits).text();
    failing.push(Buffer.from('{"partial":'));
    failing.destroy(new Error('socket reset'));
    await expect(reading).rejects.toThrow('socket reset');
    // A body aborted before text() was called (its 'error' already emitted) rejects instead of hanging.
    const aborted = body(['never read']);
    aborted.on('error', () => {}); // the stream's own listener at the time (a bare Readable would throw)
    aborted.destroy(new Error('request aborted'));
    await new Promise((r) => setImmediate(r));
    await expect(capUpstreamBody(aborted, 'application/json', limits).text()).rejects.toThrow('request aborted');
    // Chunks that arrive after the cap was passed are neither kept nor turn the rejection into a result.
    const over = body(['x'.repeat(101), 'y'.repeat(10)]);
    await expect(capUpstreamBody(over, 'application/json', limits).text()).rejects.toBeInstanceOf(AdapterError);
  });

  it('an SSE stream of small events passes, whatever its total size', async () => {
    const events = Array.from({ length: 50 }, (_, i) => `data: {"i":${i}}\n\n`);
    expect(await drain(capUpstreamBody(body(events), 'text/event-stream', limits))).toBe(events.join('').length);
  });

  it('one SSE event over the cap fails, also when it arrives in small pieces', async () => {
    const pieces = ['data: {"i":1}\n\n', 'data: ', 'x'.repeat(10), 'x'.repeat(10), 'x'.repeat(10), '\n\n'];
    const err = await drain(capUpstreamBody(body(pieces), 'text/event-stream', limits)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
  });

  it('an NDJSON stream (Ollama) is measured per line', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `{"i":${i}}\n`);
    expect(await drain(capUpstreamBody(body(lines), 'application/x-ndjson', limits))).toBe(lines.join('').length);
    const err = await drain(capUpstreamBody(body(['{"i":1}\n', 'y'.repeat(21)]), 'application/x-ndjson', limits)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
  });

  it('forEachRead: what onRead throws, a read error, a close before the end and an earlier abort all reject it', async () => {
    // onRead throws (a translator's error event): that error, the body dropped, no later read seen.
    const raw = body(['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n']);
    const seen: string[] = [];
    const thrown = new AdapterError({
      status: 502,
      retryable: false,
      error: { message: 'boom', type: 'api_error', param: null, code: 'x' },
    });
    const err = await capUpstreamBody(raw, 'text/event-stream', limits)
      .forEachRead((buf) => {
        seen.push(buf.toString());
        if (seen.length === 2) throw thrown;
      })
      .catch((e: unknown) => e);
    expect(err).toBe(thrown);
    expect(seen).toEqual(['data: 1\n\n', 'data: 2\n\n']);
    expect(raw.destroyed).toBe(true);
    // A read error (reset, or the abort signal of a deadline) after some reads.
    const failing = new Readable({ read() {} });
    const reading = capUpstreamBody(failing, 'text/event-stream', limits).forEachRead(() => {});
    failing.push(Buffer.from('data: 1\n\n'));
    failing.destroy(new Error('socket reset'));
    await expect(reading).rejects.toThrow('socket reset');
    // Destroyed without an error before its end: no end is coming, so no silent success.
    const cut = new Readable({ read() {} });
    const cutReading = capUpstreamBody(cut, 'text/event-stream', limits).forEachRead(() => {});
    cut.push(Buffer.from('data: 1\n\n'));
    cut.destroy();
    await expect(cutReading).rejects.toThrow('closed before its end');
    // Aborted before anyone read it.
    const aborted = body(['never read']);
    aborted.on('error', () => {});
    aborted.destroy(new Error('request aborted'));
    await new Promise((r) => setImmediate(r));
    await expect(capUpstreamBody(aborted, 'text/event-stream', limits).forEachRead(() => {})).rejects.toThrow('request aborted');
  });

  it('sees an event boundary split across reads (LF and CRLF)', () => {
    const lf = new EventLengthMeter(true);
    expect(lf.add(Buffer.from('data: 1\n'))).toBe(8);
    expect(lf.add(Buffer.from('\ndata: 2'))).toBe(7);
    const crlf = new EventLengthMeter(true);
    crlf.add(Buffer.from('data: 1\r\n\r'));
    expect(crlf.add(Buffer.from('\ndat'))).toBe(3);
  });
});
