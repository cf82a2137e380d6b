// The errors every stream translator reports the same way.
import { errors } from '../../protocol/errors.ts';
import { upstreamFailure, type StreamPart } from '../types.ts';

/** Retryable: nothing says the next attempt will be cut off too. */
export function truncatedStream(): StreamPart {
  return { type: 'error', error: upstreamFailure(errors.upstreamStreamTruncated(), true) };
}

export function malformedStream(data: string, detail?: string): StreamPart {
  return { type: 'error', error: upstreamFailure(errors.upstreamStreamMalformed(data, detail)) };
}
