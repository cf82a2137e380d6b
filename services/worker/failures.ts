// What a failed attempt means for the client: every error an attempt can throw becomes one
// UpstreamError (status, OpenAI error body, retryable, retry hint), built from the error catalog.
import { errors } from '../../shared/protocol/errors.ts';
import { AdapterError, upstreamFailure, type UpstreamError } from '../../shared/providers/types.ts';
import { scrubErrorBody } from '../../shared/telemetry/secrets.ts';
import { UpstreamTimeoutError } from './upstream.ts';

/** Every failure the client or a log sees passes here: upstream text is scrubbed of keys once, here. */
export function toFailure(err: unknown, cancelled: boolean): UpstreamError {
  const failure = classifyFailure(err, cancelled);
  return { ...failure, error: scrubErrorBody(failure.error) };
}

export function classifyFailure(err: unknown, cancelled: boolean): UpstreamError {
  if (err instanceof AdapterError) return err.upstream;
  // The abort of a cancelled request surfaces as whatever node:http threw; the client asked for it.
  if (cancelled) return upstreamFailure(errors.cancelled());
  const e = err as Error & { code?: string };
  if (e?.name === 'ZodError' || e instanceof SyntaxError) return upstreamFailure(errors.badUpstreamResponse(e.message.slice(0, 300)));
  const timedOut = e instanceof UpstreamTimeoutError;
  return upstreamFailure(errors.upstreamUnreachable(e?.message ?? String(err), timedOut), true);
}
