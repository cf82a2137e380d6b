// Image inputs: data: URLs split into mime type and base64, remote URLs fetched (through the checks
// of ./remote-images.ts) for providers that only take inline bytes.
import { AdapterError } from '../types.ts';
import { errors } from '../../protocol/errors.ts';
import { defaultImageSession, type ImageSession, type InlineImage } from './remote-images.ts';

export type { InlineImage };

export function parseDataUrl(url: string): InlineImage | null {
  const m = /^data:([^;,]+)?((?:;[^;,]+)*?);base64,(.*)$/s.exec(url);
  if (!m) return null;
  return { mimeType: m[1] || 'application/octet-stream', data: m[3]!.replace(/\s+/g, '') };
}

export function isDataUrl(url: string): boolean {
  return url.startsWith('data:');
}

/**
 * Inline bytes for any image URL: data: URLs are decoded locally, others downloaded within the
 * request's `images` session (its caps and cancellation). `param` names the message content.
 */
export async function inlineImage(url: string, images: ImageSession = defaultImageSession(), param = 'messages'): Promise<InlineImage> {
  if (isDataUrl(url)) {
    const img = parseDataUrl(url);
    if (!img)
      throw AdapterError.from(errors.invalidImage('Invalid data URL: expected data:<mime>;base64,<data>', param, 'invalid_image_url'));
    return img;
  }
  return images.fetch(url, param);
}
