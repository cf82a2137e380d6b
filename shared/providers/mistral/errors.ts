// Mistral's error bodies: `{"object":"error","message","type","param","code"}` from the API,
// `{"detail":[{"type","loc","msg"}]}` (or a string) for a body it rejects (422), and
// `{"message":"Unauthorized","request_id"}` from its gateway for a bad key or a rate limit.
import { z } from 'zod';
import type { UpstreamError } from '../types.ts';
import { looksLikeModelNotFound, parseErrorResponse, upstreamError } from '../common/errors.ts';

const apiErrorSchema = z
  .object({ message: z.unknown(), type: z.string().nullable().optional(), code: z.union([z.string(), z.number()]).nullable().optional() })
  .loose();
const validationErrorSchema = z
  .object({
    detail: z.union([
      z.string(),
      z.array(z.object({ msg: z.string(), loc: z.array(z.union([z.string(), z.number()])).optional() }).loose()),
    ]),
  })
  .loose();

function messageOf(json: unknown, fallbackMessage: string): { message: string; code: string | null } {
  const validation = validationErrorSchema.safeParse(json);
  if (validation.success) {
    const detail = validation.data.detail;
    if (typeof detail === 'string') return { message: detail, code: null };
    const message = detail.map((d) => (d.loc?.length ? `${d.loc.join('.')}: ${d.msg}` : d.msg)).join('; ');
    return { message: message || fallbackMessage, code: 'invalid_request' };
  }
  const api = apiErrorSchema.safeParse(json);
  if (api.success && api.data.message !== undefined && api.data.message !== null) {
    // `message` is sometimes itself a validation body.
    const message = typeof api.data.message === 'string' ? api.data.message : messageOf(api.data.message, fallbackMessage).message;
    const code = api.data.code === undefined || api.data.code === null ? null : String(api.data.code);
    return { message, code };
  }
  return { message: fallbackMessage, code: null };
}

export function parseMistralError(status: number, bodyText: string, headers: Record<string, string | string[] | undefined>): UpstreamError {
  return parseErrorResponse(status, bodyText, headers, (json, fallbackMessage) => {
    const { message, code } = messageOf(json, fallbackMessage);
    // A 422 is a request Mistral cannot take: the client sees the 400 every other provider gives.
    const clientStatus = status === 422 ? 400 : undefined;
    const mapped =
      status === 401 || status === 403
        ? 'upstream_auth_error'
        : looksLikeModelNotFound(status, message) || (status === 400 && /invalid model/i.test(message))
          ? 'model_not_found'
          : status === 429
            ? 'rate_limit_exceeded'
            : code;
    const err = upstreamError(status, message, mapped, clientStatus);
    if (mapped === 'model_not_found' && status === 400) return upstreamError(404, message, mapped);
    return err;
  });
}
