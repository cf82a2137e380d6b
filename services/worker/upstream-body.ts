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

/** The upstream response body as the worker uses it: read whole, or streamed read by read. */
export interface UpstreamBody {
  text(): Promise<string>;
  /**
   * Calls onRead with every read until the body ends. Rejects with what onRead throws (the body is
   * then dropped), a read error, a cap exceeded, or a close before the end.
   */
  forEachRead(onRead: (buf: Buffer) => void): Promise<void>;
}

interface RawBody {
  destroy(err?: Error): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'readable', listener: () => void): unknown;
  read(): Buffer | null;
  once(event: 'end' | 'close', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  readonly destroyed: boolean;
  readonly errored: Error | null;
}

/** TextDecoder options for a body decoded read by read (one object for every read). */
export const STREAMING_DECODE = { stream: true } as const;

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
        let ended = false;
        raw.on('data', (buf) => {
          if (bytes > limits.maxBodyBytes) return;
          bytes += buf.length;
          if (bytes > limits.maxBodyBytes) {
            raw.destroy();
            reject(upstreamTooLarge('a body', limits.maxBodyBytes));
          } else parts.push(buf);
        });
        raw.once('end', () => {
          ended = true;
          resolve(Buffer.concat(parts, bytes).toString('utf8'));
        });
        raw.once('error', reject);
        // Destroyed without an error and without its end: no answer is coming. Every body closes
        // after its end too; the Error (a stack captured) only when it means something.
        raw.once('close', () => {
          if (!ended) reject(new Error('the upstream body was closed before its end'));
        });
      });
    },
    // Callbacks here too: `for await` over the body (and a generator around it for the cap) cost
    // two promises and two generator steps per read of every stream.
    forEachRead(onRead) {
      return new Promise<void>((resolve, reject) => {
        if (raw.destroyed) return reject(raw.errored ?? new Error('the upstream body was closed before it was read'));
        const events = new EventLengthMeter(sse);
        let settled = false;
        // The first of end, error, close before the end, a cap or onRead throwing decides; the rest are no-ops.
        const settle = (ok: boolean, err?: unknown) => {
          if (settled) return;
          settled = true;
          if (ok) resolve();
          else reject(err);
        };
        const fail = (err: unknown) => {
          if (settled) return;
          settle(false, err);
          raw.destroy();
        };
        // 'readable' and read(), not 'data': read() hands over everything buffered since the last
        // turn as one Buffer, so reads that queued while the worker was busy become one relayed
        // chunk (with 'data' each socket read was its own chunk event: +45% allocation per stream).
        raw.on('readable', () => {
          let buf: Buffer | null;
          while (!settled && (buf = raw.read()) !== null) {
            if (events.add(buf) > limits.maxEventBytes)
              return fail(upstreamTooLarge(sse ? 'a single SSE event' : 'a single stream line', limits.maxEventBytes));
            try {
              onRead(buf);
            } catch (err) {
              fail(err);
            }
          }
        });
        raw.once('end', () => settle(true));
        raw.once('error', (err) => settle(false, err));
        // Destroyed without an error and without its end (a no-op after 'end' or an error).
        raw.once('close', () => {
          if (!settled) settle(false, new Error('the upstream body was closed before its end'));
        });
      });
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
