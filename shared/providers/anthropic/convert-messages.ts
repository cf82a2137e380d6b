// OpenAI messages -> Anthropic `system` + `messages`. Anthropic has only user and assistant turns that
// must alternate: tool results become user content blocks, and same-role neighbours are merged.
import type { ChatMessage } from '../../protocol/openai.ts';
import { argumentsObject, contentPieces, contentText, systemText } from '../common/content.ts';
import { parseDataUrl, isDataUrl } from '../common/images.ts';
import { AdapterError } from '../types.ts';
import { errors } from '../../protocol/errors.ts';

export type AnthropicBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string };

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: AnthropicBlock[];
}

function imageBlock(url: string): AnthropicBlock {
  if (isDataUrl(url)) {
    const img = parseDataUrl(url);
    if (!img) throw AdapterError.from(errors.invalidImage('Invalid data URL in image_url', 'messages', 'invalid_image_url'));
    return { type: 'image', source: { type: 'base64', media_type: img.mimeType, data: img.data } };
  }
  // Anthropic downloads URL images itself.
  return { type: 'image', source: { type: 'url', url } };
}

export function convertToAnthropicMessages(messages: ChatMessage[]): { system: string | undefined; messages: AnthropicMessage[] } {
  const out: AnthropicMessage[] = [];
  const push = (role: AnthropicMessage['role'], blocks: AnthropicBlock[]) => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.role === role) {
      // Tool results must lead a user turn; a user text after results stays after them.
      last.content.push(...blocks);
    } else out.push({ role, content: blocks });
  };

  for (const m of messages) {
    switch (m.role) {
      case 'system':
      case 'developer':
        break; // hoisted into `system`
      case 'user':
        push(
          'user',
          contentPieces(m.content).map((p) => (p.kind === 'text' ? { type: 'text', text: p.text } : imageBlock(p.url))),
        );
        break;
      case 'assistant': {
        const blocks: AnthropicBlock[] = [];
        const text = contentText(m.content);
        if (text.trim() !== '') blocks.push({ type: 'text', text });
        for (const t of m.tool_calls ?? [])
          blocks.push({ type: 'tool_use', id: t.id, name: t.function.name, input: argumentsObject(t.function.arguments) });
        push('assistant', blocks);
        break;
      }
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content: contentText(m.content) }]);
        break;
    }
  }
  return { system: systemText(messages), messages: out };
}
