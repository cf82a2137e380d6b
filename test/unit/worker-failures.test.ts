import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyFailure, toFailure } from '../../services/worker/failures.ts';
import { UpstreamTimeoutError } from '../../services/worker/upstream.ts';
import { AdapterError } from '../../shared/providers/types.ts';
import { errors } from '../../shared/protocol/errors.ts';
import { requestFault, translateRequest } from '../../services/worker/request-faults.ts';
import { upstreamTooLarge } from '../../services/worker/upstream-body.ts';
import { malformedStream, truncatedStream } from '../../shared/providers/common/stream-errors.ts';
import { inlineImage } from '../../shared/providers/common/images.ts';
import { convertToAnthropicMessages } from '../../shared/providers/anthropic/convert-messages.ts';

describe('worker failures', () => {
  it('passes an AdapterError through as it is', () => {
    const upstream = {
      status: 429,
      retryable: true,
      retryAfterMs: 1_500,
      error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' },
    };
    expect(classifyFailure(new AdapterError(upstream), false)).toBe(upstream);
  });

  it('reports whatever a cancelled request threw as the client cancel', () => {
    expect(classifyFailure(new Error('This operation was aborted'), true)).toEqual({
      status: 499,
      retryable: false,
      error: { message: 'cancelled by client', type: 'invalid_request_error', param: null, code: 'cancelled' },
    });
  });

  it('calls an unparseable upstream answer a bad response, not retryable', () => {
    const zod = z.object({ id: z.string() }).safeParse({}).error!;
    for (const err of [new SyntaxError('Unexpected token < in JSON'), zod]) {
      const f = classifyFailure(err, false);
      expect(f).toMatchObject({ status: 502, retryable: false, error: { type: 'upstream_error', code: 'bad_upstream_response' } });
      expect(f.error.message).toMatch(/^The upstream answered in an unexpected shape: /);
    }
  });

  it('tells an upstream timeout from a connection error; both retryable', () => {
    const timeout = new UpstreamTimeoutError('UPSTREAM_HEADERS_TIMEOUT', 1000);
    expect(classifyFailure(timeout, false)).toEqual({
      status: 504,
      retryable: true,
      error: {
        message: 'The upstream could not be reached: no response headers from the upstream within 1000 ms',
        type: 'upstream_error',
        param: null,
        code: 'upstream_timeout',
      },
    });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifyFailure(refused, false)).toMatchObject({ status: 502, retryable: true, error: { code: 'upstream_connection_error' } });
  });

  it('scrubs upstream keys from what the client sees', () => {
    const key = 'sk-unit-failures-0123456789abcdef';
    const f = toFailure(new Error(`bad key ${key} refused`), false);
    expect(f.error.message).not.toContain(key);
  });

  it('builds the worker errors from the catalog with the wire bodies clients already see', () => {
    expect(errors.deadlineExceeded().toBody().error).toEqual({
      message: 'The caller stopped waiting before the request could run.',
      type: 'timeout_error',
      param: null,
      code: 'deadline_exceeded',
    });
    expect(errors.providerUnavailable('acme').toBody().error).toEqual({
      message: "provider 'acme' is not available",
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    });
    expect(AdapterError.from(errors.circuitOpen('openai/x'), true).upstream).toEqual({
      status: 503,
      retryable: true,
      error: {
        message: 'The upstream openai/x is failing; its circuit breaker is open. Try again shortly.',
        type: 'server_error',
        param: null,
        code: 'circuit_open',
      },
    });
  });

  // What test/security/breaker-isolation.test.ts reaches end to end only where JSON.stringify has a
  // depth limit (V8 13): whatever an adapter's translation throws is the request's fault.
  it('makes anything a translation throws a non-retryable 400, and passes an AdapterError through', async () => {
    const overflow = await translateRequest('openai', () => {
      throw new RangeError('Maximum call stack size exceeded');
    }).catch((e: unknown) => e);
    expect(overflow).toBeInstanceOf(AdapterError);
    expect((overflow as AdapterError).upstream).toMatchObject({ status: 400, retryable: false, error: { code: 'invalid_request' } });
    expect(classifyFailure(overflow, false)).toMatchObject({ status: 400, retryable: false });
    const own = new AdapterError(requestFault('openai', new Error('own')));
    await expect(translateRequest('openai', () => Promise.reject(own))).rejects.toBe(own);
    await expect(translateRequest('openai', () => 'built')).resolves.toBe('built');
  });

  it('keeps the bodies of request faults, oversized answers and broken streams as clients knew them', () => {
    expect(requestFault('gemini', new RangeError('Maximum call stack size exceeded'))).toEqual({
      status: 400,
      retryable: false,
      error: {
        message: "The request could not be translated for provider 'gemini': Maximum call stack size exceeded",
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_request',
      },
    });
    expect(upstreamTooLarge('a body', 10).upstream).toEqual({
      status: 502,
      retryable: false,
      error: {
        message: 'The upstream sent a body larger than the 10 bytes allowed; the response was dropped.',
        type: 'upstream_error',
        param: null,
        code: 'upstream_response_too_large',
      },
    });
    expect(truncatedStream()).toEqual({
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
    });
    expect(malformedStream('{oops', 'not JSON')).toEqual({
      type: 'error',
      error: {
        status: 502,
        retryable: false,
        error: {
          message: 'upstream sent malformed stream data (not JSON): {oops',
          type: 'upstream_error',
          param: null,
          code: 'bad_upstream_response',
        },
      },
    });
  });

  it('keeps the 400 bodies of unusable images', async () => {
    const err = await inlineImage('data:image/png,not-base64', undefined, 'messages[0].content[1].image_url.url').catch((e: unknown) => e);
    expect((err as AdapterError).upstream).toEqual({
      status: 400,
      retryable: false,
      error: {
        message: 'Invalid data URL: expected data:<mime>;base64,<data>',
        type: 'invalid_request_error',
        param: 'messages[0].content[1].image_url.url',
        code: 'invalid_image_url',
      },
    });
    let thrown: unknown;
    try {
      convertToAnthropicMessages([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:nonsense' } }] }]);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as AdapterError).upstream).toEqual({
      status: 400,
      retryable: false,
      error: { message: 'Invalid data URL in image_url', type: 'invalid_request_error', param: 'messages', code: 'invalid_image_url' },
    });
  });
});
