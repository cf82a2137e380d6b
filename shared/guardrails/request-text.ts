// The text of a chat request a guardrail reads and may rewrite: every message's string content and
// every `text` part of an array content, in order.
export interface ChatLike {
  messages?: Array<{ role?: string; content?: unknown }>;
  tools?: Array<{ type?: string; function?: { name?: string } }>;
  response_format?: { type?: string; json_schema?: { schema?: unknown } };
}

export interface TextSlot {
  text: string;
  set(text: string): void;
}

export function textSlots(body: ChatLike): TextSlot[] {
  const slots: TextSlot[] = [];
  if (!Array.isArray(body.messages)) return slots;
  for (const msg of body.messages) {
    if (!msg || typeof msg !== 'object') continue;
    if (typeof msg.content === 'string') {
      slots.push({ text: msg.content, set: (t) => (msg.content = t) });
    } else if (Array.isArray(msg.content)) {
      for (const part of msg.content as Array<{ type?: string; text?: unknown }>) {
        if (part && part.type === 'text' && typeof part.text === 'string') slots.push({ text: part.text, set: (t) => (part.text = t) });
      }
    }
  }
  return slots;
}

export function toolNames(body: ChatLike): string[] {
  if (!Array.isArray(body.tools)) return [];
  return body.tools.map((t) => t?.function?.name).filter((n): n is string => typeof n === 'string');
}
