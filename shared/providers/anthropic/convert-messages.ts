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
  | { type: 'tool_result'; tool_use_id: string; content: string }
  | { type: 'document'; source: { type: 'base64'; media_type: 'application/pdf'; data: string } };

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

/** An OpenAI `file` part as a document block: Anthropic reads PDFs inline; anything else is refused by name. */
function documentBlock(part: { file?: { file_data?: unknown; file_id?: unknown } }, param: string): AnthropicBlock {
  const { file_data: fileData, file_id: fileId } = part.file ?? {};
  if (typeof fileData !== 'string') {
    if (fileId !== undefined)
      throw AdapterError.from(errors.unsupportedParameter('anthropic', `${param}.file.file_id`, 'an OpenAI file id; send file_data'));
    throw AdapterError.from(errors.invalidField(`${param}.file`, 'file_data is required'));
  }
  const m = /^data:application\/pdf(?:;[\w=.+-]+)*;base64,([A-Za-z0-9+/=\s]+)$/.exec(fileData);
  if (!m)
    throw AdapterError.from(
      errors.unsupportedParameter(
        'anthropic',
        `${param}.file.file_data`,
        'Anthropic reads PDF documents only (data:application/pdf;base64,...)',
      ),
    );
  return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: m[1]!.replace(/\s/g, '') } };
}

function userBlocks(content: Extract<ChatMessage, { role: 'user' }>['content'], index: number): AnthropicBlock[] {
  const blocks: AnthropicBlock[] = [];
  // Part by part, so a document keeps its place between text and images.
  const items = Array.isArray(content) ? content : [content];
  for (const [j, item] of items.entries()) {
    if (typeof item !== 'string' && item.type === 'file') {
      blocks.push(documentBlock(item as { file?: { file_data?: unknown; file_id?: unknown } }, `messages[${index}].content[${j}]`));
      continue;
    }
    for (const p of contentPieces(typeof item === 'string' ? item : [item]))
      blocks.push(p.kind === 'text' ? { type: 'text', text: p.text } : imageBlock(p.url));
  }
  return blocks;
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

  for (const [i, m] of messages.entries()) {
    switch (m.role) {
      case 'system':
      case 'developer':
        break; // hoisted into `system`
      case 'user':
        push('user', userBlocks(m.content, i));
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
