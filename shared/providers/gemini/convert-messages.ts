// OpenAI messages -> Gemini `systemInstruction` + `contents`. Roles are user and model; tool results
// are functionResponse parts in a user turn; neighbouring turns of one role are merged (Gemini wants
// all responses to one model turn's calls together).
import type { ChatMessage } from '../../protocol/openai.ts';
import { argumentsObject, contentPieces, contentText, systemText, toolNamesById } from '../common/content.ts';
import { inlineImage } from '../common/images.ts';
import { defaultImageSession, type ImageSession } from '../common/remote-images.ts';
import { decodeGeminiToolCallId } from './tool-call-id.ts';
import { geminiMediaPart } from './media-parts.ts';

export type GeminiPart =
  | { text: string }
  | { inlineData: { mimeType: string; data: string } }
  | { fileData: { fileUri: string; mimeType?: string } }
  | { functionCall: { name: string; args: Record<string, unknown>; id?: string }; thoughtSignature?: string }
  | { functionResponse: { name: string; response: Record<string, unknown>; id?: string } };

export interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

/** YouTube links and Files API URIs are fetched by Gemini itself; everything else is sent inline. */
function isGeminiFetchable(url: string): boolean {
  return (
    /^https:\/\/(www\.)?(youtube\.com|youtu\.be)\//.test(url) || /^https:\/\/generativelanguage\.googleapis\.com\/v1beta\/files\//.test(url)
  );
}

async function imagePart(url: string, images: ImageSession, param: string): Promise<GeminiPart> {
  if (isGeminiFetchable(url)) return { fileData: { fileUri: url } };
  const img = await inlineImage(url, images, param);
  return { inlineData: { mimeType: img.mimeType, data: img.data } };
}

function toolResponse(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // plain text result
  }
  return { content: text };
}

export async function convertToGeminiContents(
  messages: ChatMessage[],
  images: ImageSession = defaultImageSession(),
): Promise<{ systemInstruction: { parts: Array<{ text: string }> } | undefined; contents: GeminiContent[] }> {
  const names = toolNamesById(messages);
  const contents: GeminiContent[] = [];
  const push = (role: GeminiContent['role'], parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const [i, m] of messages.entries()) {
    if (m.role === 'system' || m.role === 'developer') continue;
    if (m.role === 'user') {
      const parts: GeminiPart[] = [];
      // Part by part, so audio and files (./media-parts.ts) keep their place between text and images.
      const items = Array.isArray(m.content) ? m.content : [m.content];
      for (const [j, item] of items.entries()) {
        const media = typeof item === 'string' ? null : geminiMediaPart(item, `messages[${i}].content[${j}]`);
        if (media) parts.push(media);
        else
          for (const p of contentPieces(typeof item === 'string' ? item : [item]))
            parts.push(p.kind === 'text' ? { text: p.text } : await imagePart(p.url, images, `messages[${i}].content`));
      }
      push('user', parts);
    } else if (m.role === 'assistant') {
      const parts: GeminiPart[] = [];
      const text = contentText(m.content);
      if (text !== '') parts.push({ text });
      for (const t of m.tool_calls ?? []) {
        const { providerId, thoughtSignature } = decodeGeminiToolCallId(t.id);
        const part: GeminiPart = { functionCall: { name: t.function.name, args: argumentsObject(t.function.arguments) } };
        if (providerId) part.functionCall.id = providerId;
        if (thoughtSignature) part.thoughtSignature = thoughtSignature;
        parts.push(part);
      }
      push('model', parts);
    } else {
      const { providerId } = decodeGeminiToolCallId(m.tool_call_id);
      const response: GeminiPart = {
        functionResponse: { name: names.get(m.tool_call_id) ?? 'unknown_function', response: toolResponse(contentText(m.content)) },
      };
      if (providerId) response.functionResponse.id = providerId;
      push('user', [response]);
    }
  }
  const system = systemText(messages);
  return { systemInstruction: system ? { parts: [{ text: system }] } : undefined, contents };
}
