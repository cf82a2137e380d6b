// OpenAI message content (a string or an array of parts) in the pieces the other dialects need.
import type { ChatMessage } from '../../protocol/openai.ts';

type Content = Extract<ChatMessage, { role: 'user' }>['content'] | null | undefined;

export type ContentPiece = { kind: 'text'; text: string } | { kind: 'image'; url: string };

/** Text and image parts in order; other part types (audio, files) are not translated. */
export function contentPieces(content: Content): ContentPiece[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ kind: 'text', text: content }];
  const out: ContentPiece[] = [];
  for (const part of content) {
    const p = part as { type: string; text?: unknown; image_url?: { url?: unknown } };
    if (p.type === 'text' && typeof p.text === 'string' && p.text !== '') out.push({ kind: 'text', text: p.text });
    else if (p.type === 'image_url' && typeof p.image_url?.url === 'string') out.push({ kind: 'image', url: p.image_url.url });
  }
  return out;
}

/** All text of a message's content, parts joined without separator (as OpenAI concatenates them). */
export function contentText(content: Content): string {
  return contentPieces(content)
    .map((p) => (p.kind === 'text' ? p.text : ''))
    .join('');
}

/** System and developer messages, joined: every other dialect takes one system prompt. */
export function systemText(messages: ChatMessage[]): string | undefined {
  const texts = messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => contentText(m.content));
  const joined = texts.filter((t) => t !== '').join('\n\n');
  return joined === '' ? undefined : joined;
}

/** Tool call arguments are a JSON string on the OpenAI side and an object everywhere else. */
export function argumentsObject(args: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    // A model can emit broken JSON; send it back as a string rather than failing the whole turn.
    return { raw: args };
  }
}

/** `tool_call_id` -> function name, from the assistant turns (Gemini and Ollama want the name on the result). */
export function toolNamesById(messages: ChatMessage[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const m of messages) if (m.role === 'assistant') for (const t of m.tool_calls ?? []) names.set(t.id, t.function.name);
  return names;
}
