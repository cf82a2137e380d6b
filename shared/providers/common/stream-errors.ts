// The errors every stream translator reports the same way.
import type { StreamPart } from '../types.ts';

export function truncatedStream(): StreamPart {
  return {
    type: 'error',
    error: {
      status: 502,
      retryable: true,
      error: {
        message: 'The upstream stream ended before the answer was complete.',
        type: 'upstream_error',
        param: null,
        code: 'upstream_stream_truncated',
      },
    },
  };
}

export function malformedStream(data: string, detail?: string): StreamPart {
  return {
    type: 'error',
    error: {
      status: 502,
      retryable: false,
      error: {
        message: `upstream sent malformed stream data${detail ? ` (${detail})` : ''}: ${data.slice(0, 200)}`,
        type: 'upstream_error',
        param: null,
        code: 'bad_upstream_response',
      },
    },
  };
}
