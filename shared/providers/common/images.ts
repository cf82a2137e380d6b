// Image inputs: data: URLs split into mime type and base64, remote URLs fetched (with a size and time
// limit) for providers that only take inline bytes.
import { AdapterError } from '../types.ts';

export interface InlineImage {
  mimeType: string;
  /** base64, no `data:` prefix */
  data: string;
}

export const IMAGE_FETCH_LIMITS = { maxBytes: 20 * 1024 * 1024, timeoutMs: 10_000 };

function badImage(message: string): AdapterError {
  return new AdapterError({
    status: 400,
    retryable: false,
    error: { message, type: 'invalid_request_error', param: 'messages', code: 'invalid_image_url' },
  });
}

export function parseDataUrl(url: string): InlineImage | null {
  const m = /^data:([^;,]+)?((?:;[^;,]+)*?);base64,(.*)$/s.exec(url);
  if (!m) return null;
  return { mimeType: m[1] || 'application/octet-stream', data: m[3]!.replace(/\s+/g, '') };
}

export function isDataUrl(url: string): boolean {
  return url.startsWith('data:');
}

/** Downloads a remote image into memory; refuses non-http(s), oversized and slow answers. */
export async function fetchImage(url: string, limits = IMAGE_FETCH_LIMITS): Promise<InlineImage> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badImage(`Invalid image URL: ${url.slice(0, 100)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw badImage(`Unsupported image URL scheme: ${parsed.protocol}`);
  let res: Response;
  try {
    res = await fetch(parsed, { signal: AbortSignal.timeout(limits.timeoutMs), redirect: 'follow' });
  } catch (err) {
    throw badImage(`Could not download the image at ${parsed.href}: ${(err as Error).message}`);
  }
  if (!res.ok) throw badImage(`Could not download the image at ${parsed.href}: HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limits.maxBytes) throw badImage(`The image at ${parsed.href} is larger than ${limits.maxBytes} bytes.`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      if (size > limits.maxBytes) {
        await res.body?.cancel().catch(() => {});
        throw badImage(`The image at ${parsed.href} is larger than ${limits.maxBytes} bytes.`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof AdapterError) throw err;
    throw badImage(`Could not download the image at ${parsed.href}: ${(err as Error).message}`);
  }
  const mimeType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim() || guessMime(parsed.pathname);
  return { mimeType, data: Buffer.concat(chunks).toString('base64') };
}

/** Inline bytes for any image URL: data: URLs are decoded locally, others downloaded. */
export async function inlineImage(url: string, limits = IMAGE_FETCH_LIMITS): Promise<InlineImage> {
  if (isDataUrl(url)) {
    const img = parseDataUrl(url);
    if (!img) throw badImage('Invalid data URL: expected data:<mime>;base64,<data>');
    return img;
  }
  return fetchImage(url, limits);
}

function guessMime(path: string): string {
  const ext = path.split('.').pop()?.toLowerCase();
  if (ext === 'png') return 'image/png';
  if (ext === 'gif') return 'image/gif';
  if (ext === 'webp') return 'image/webp';
  return 'image/jpeg';
}
