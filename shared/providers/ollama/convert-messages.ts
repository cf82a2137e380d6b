// OpenAI messages -> Ollama /api/chat messages: content is a string, images are bare base64 in
// `images`, tool call arguments are objects, tool results carry the function name.
import type { ChatMessage } from '../../protocol/openai.ts';
import { argumentsObject, contentPieces, contentText, toolNamesById } from '../common/content.ts';
import { inlineImage } from '../common/images.ts';
import { defaultImageSession, type ImageSession } from '../common/remote-images.ts';

export interface OllamaMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  images?: string[];
  thinking?: string;
  tool_calls?: Array<{ id?: string; function: { name: string; arguments: Record<string, unknown> } }>;
  tool_name?: string;
  tool_call_id?: string;
}

export async function convertToOllamaMessages(
  messages: ChatMessage[],
  images: ImageSession = defaultImageSession(),
): Promise<OllamaMessage[]> {
  const names = toolNamesById(messages);
  const out: OllamaMessage[] = [];
  for (const [i, m] of messages.entries()) {
    if (m.role === 'system' || m.role === 'developer') out.push({ role: 'system', content: contentText(m.content) });
    else if (m.role === 'user') {
      const msg: OllamaMessage = { role: 'user', content: '' };
      const inlined: string[] = [];
      for (const p of contentPieces(m.content)) {
        if (p.kind === 'text') msg.content += p.text;
        else inlined.push((await inlineImage(p.url, images, `messages[${i}].content`)).data);
      }
      if (inlined.length) msg.images = inlined;
      out.push(msg);
    } else if (m.role === 'assistant') {
      const msg: OllamaMessage = { role: 'assistant', content: contentText(m.content) };
      if (m.reasoning_content) msg.thinking = m.reasoning_content;
      if (m.tool_calls?.length)
        msg.tool_calls = m.tool_calls.map((t) => ({
          id: t.id,
          function: { name: t.function.name, arguments: argumentsObject(t.function.arguments) },
        }));
      out.push(msg);
    } else {
      const msg: OllamaMessage = { role: 'tool', content: contentText(m.content), tool_call_id: m.tool_call_id };
      const name = names.get(m.tool_call_id);
      if (name) msg.tool_name = name;
      out.push(msg);
    }
  }
  return out;
}
