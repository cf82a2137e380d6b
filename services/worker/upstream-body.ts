// Size caps on what an upstream sends back. A non-streaming body is read whole (it becomes one result
// event on NATS), and a streamed event is buffered whole by the SSE parser, so without a cap a broken
// or hostile upstream decides how much memory a worker holds. Over a cap the connection is dropped and
// the request fails with a clean, non-retryable upstream error.
import { AdapterError } from '../../shared/providers/types.ts';
import { errors } from '../../shared/protocol/errors.ts';

export interface UpstreamBodyLimits {
  /** Largest non-streaming body (JSON result or error). */
  maxBodyBytes: number;
  /** Largest single streamed event: an SSE event (up to its blank line), or one NDJSON line. */
  maxEventBytes: number;
}

/** The upstream response body as the worker uses it. */
export interface UpstreamBody extends AsyncIterable<Buffer> {
  text(): Promise<string>;
}

interface RawBody extends AsyncIterable<Buffer> {
  destroy(err?: Error): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  once(event: 'end' | 'close', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  readonly destroyed: boolean;
  readonly errored: Error | null;
}

export function upstreamTooLarge(what: string, limitBytes: number): AdapterError {
  return AdapterError.from(errors.upstreamTooLarge(what, limitBytes));
}

/** Wraps an upstream response body so text() and iteration stop with an AdapterError past the caps. */
export function capUpstreamBody(raw: RawBody, contentType: string | undefined, limits: UpstreamBodyLimits): UpstreamBody {
  const sse = /event-stream/i.test(contentType ?? '');
  return {
    // Read with 'data' events, not `for await`: every non-streaming answer comes through here, and the
    // async iterator costs a generator and a promise per read.
    text() {
      return new Promise<string>((resolve, reject) => {
        // Aborted (deadline, cancel) before anyone read it: its 'error' has been and gone.
        if (raw.destroyed) return reject(raw.errored ?? new Error('the upstream body was closed before it was read'));
        const parts: Buffer[] = [];
        let bytes = 0;
        raw.on('data', (buf) => {
          if (bytes > limits.maxBodyBytes) return;
          bytes += buf.length;
          if (bytes > limits.maxBodyBytes) {
            raw.destroy();
            reject(upstreamTooLarge('a body', limits.maxBodyBytes));
          } else parts.push(buf);
        });
        raw.once('end', () => resolve(Buffer.concat(parts, bytes).toString('utf8')));
        raw.once('error', reject);
        // Destroyed without an error and without its end: no answer is coming (a no-op after 'end').
        raw.once('close', () => reject(new Error('the upstream body was closed before its end')));
      });
    },
    async *[Symbol.asyncIterator]() {
      const events = new EventLengthMeter(sse);
      for await (const buf of raw) {
        if (events.add(buf) > limits.maxEventBytes) {
          raw.destroy();
          throw upstreamTooLarge(sse ? 'a single SSE event' : 'a single stream line', limits.maxEventBytes);
        }
        yield buf;
      }
    },
  };
}

/**
 * Bytes since the last event boundary: a blank line for SSE ("\n\n" or "\r\n\r\n"), a newline for
 * NDJSON (Ollama). The last few bytes of the previous chunk are kept so a boundary split across two
 * reads is still seen.
 */
export class EventLengthMeter {
  private readonly sse: boolean;
  private tail: Buffer = Buffer.alloc(0);
  private open = 0;

  constructor(sse: boolean) {
    this.sse = sse;
  }

  /** Adds one read; returns the length of the event still open after it. */
  add(chunk: Buffer): number {
    const view = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const end = this.lastBoundaryEnd(view);
    this.open = end === -1 ? this.open + chunk.length : view.length - end;
    this.tail = Buffer.from(view.subarray(Math.max(0, view.length - 3)));
    return this.open;
  }

  private lastBoundaryEnd(view: Buffer): number {
    if (!this.sse) {
      const nl = view.lastIndexOf(10);
      return nl === -1 ? -1 : nl + 1;
    }
    const lf = view.lastIndexOf('\n\n');
    const crlf = view.lastIndexOf('\n\r\n');
    return Math.max(lf === -1 ? -1 : lf + 2, crlf === -1 ? -1 : crlf + 3);
  }
}
