import { describe, expect, it } from 'vitest';
import { parseErrorResponse } from '../../shared/providers/common/errors.ts';
import { parseAnthropicError } from '../../shared/providers/anthropic/errors.ts';
import { parseGeminiError } from '../../shared/providers/gemini/errors.ts';
import { parseOllamaError } from '../../shared/providers/ollama/errors.ts';
import { parseOpenAIError } from '../../shared/providers/openai/errors.ts';
import { parseXaiError } from '../../shared/providers/xai/errors.ts';
import { parseGroqError } from '../../shared/providers/groq/errors.ts';
import type { UpstreamError } from '../../shared/providers/types.ts';

const plain = (message: string): UpstreamError => ({
  status: 502,
  retryable: true,
  error: { message, type: 'upstream_error', param: null, code: null },
});

describe('parseErrorResponse (the frame of every parseError)', () => {
  it('hands the dialect the JSON body, or undefined with a message for a body that is not JSON', () => {
    const seen: unknown[] = [];
    const read = (json: unknown, fallback: string) => (seen.push([json, fallback]), plain(fallback));
    parseErrorResponse(500, '{"error":"x"}', {}, read);
    parseErrorResponse(502, '<html>Bad Gateway</html>', {}, read);
    parseErrorResponse(503, '', {}, read);
    parseErrorResponse(500, 'x'.repeat(600), {}, read);
    expect(seen[0]).toEqual([{ error: 'x' }, '{"error":"x"}']);
    expect(seen[1]).toEqual([undefined, '<html>Bad Gateway</html>']);
    expect(seen[2]).toEqual([undefined, 'upstream answered HTTP 503']);
    expect((seen[3] as [unknown, string])[1]).toHaveLength(500);
  });

  it('takes the retry hint from the headers unless the body gave one', () => {
    expect(parseErrorResponse(429, '', { 'retry-after': '3' }, () => plain('x')).retryAfterMs).toBe(3_000);
    expect(parseErrorResponse(429, '', { 'retry-after': '3' }, () => ({ ...plain('x'), retryAfterMs: 500 })).retryAfterMs).toBe(500);
    expect(parseErrorResponse(429, '', {}, () => plain('x'))).not.toHaveProperty('retryAfterMs');
  });
});

describe('every adapter keeps its non-JSON fallback and retry hint', () => {
  const html = '<html><body>502 Bad Gateway</body></html>';
  const parsers = { parseOpenAIError, parseAnthropicError, parseGeminiError, parseOllamaError, parseXaiError, parseGroqError };

  it.each(Object.entries(parsers))('%s: a proxy page becomes the message, the header a retry hint', (_name, parse) => {
    const err = parse(503, html, { 'retry-after': '2' });
    expect(err).toMatchObject({ status: 503, retryable: true, retryAfterMs: 2_000 });
    expect(err.error.message).toBe(html);
    expect(parse(500, '', {}).error.message).toBe('upstream answered HTTP 500');
  });

  it("gemini: the body's retryDelay wins over a retry-after header", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        message: 'quota',
        status: 'RESOURCE_EXHAUSTED',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '34s' }],
      },
    });
    expect(parseGeminiError(429, body, { 'retry-after': '2' }).retryAfterMs).toBe(34_000);
  });

  it('anthropic and xai still read their own shapes', () => {
    expect(parseAnthropicError(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', {})).toMatchObject({
      status: 503,
      error: { message: 'Overloaded', code: 'overloaded_error' },
    });
    expect(parseXaiError(400, '{"code":"Client specified an invalid argument","error":"Incorrect API key provided"}', {})).toMatchObject({
      error: { code: 'upstream_auth_error' },
    });
  });
});
