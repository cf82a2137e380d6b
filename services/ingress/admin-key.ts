// The ADMIN_API_KEY check, shared by the admin API and the console API.
import { createHash, timingSafeEqual } from 'node:crypto';

/** `Bearer <key>` of a request, or null when the header is absent or malformed. */
export function bearerToken(authorization: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m ? m[1]! : null;
}

/** Compares digests: equal lengths for timingSafeEqual, and no early exit on the first wrong byte. */
export function adminKeyMatcher(adminApiKey: string): (token: string) => boolean {
  const expected = createHash('sha256').update(adminApiKey).digest();
  return (token) => timingSafeEqual(createHash('sha256').update(token).digest(), expected);
}
