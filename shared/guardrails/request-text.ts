// The text of a request a guardrail reads and may rewrite, in order: chat messages (string content
// and `text` parts), Anthropic Messages (`system`, text blocks, tool_result blocks' nested content)
// and embeddings `input` (strings only: token-id arrays carry no text).
export interface ChatLike {
  messages?: Array<{ role?: string; content?: unknown }>;
  /** Anthropic Messages: a string or text blocks. */
  system?: unknown;
  /** Embeddings: a string, strings, or token ids. */
  input?: unknown;
  /** OpenAI `{function: {name}}` or Anthropic `{name}`. */
  tools?: Array<{ type?: string; name?: string; function?: { name?: string } }>;
  response_format?: { type?: string; json_schema?: { schema?: unknown } };
}

export interface TextSlot {
  text: string;
  set(text: string): void;
}

type Holder = Record<string, unknown>;

export function textSlots(body: ChatLike): TextSlot[] {
  const slots: TextSlot[] = [];
  contentSlots(body as Holder, 'system', slots);
  if (Array.isArray(body.messages)) {
    for (const msg of body.messages) if (msg && typeof msg === 'object') contentSlots(msg as Holder, 'content', slots);
  }
  if (typeof body.input === 'string') slots.push({ text: body.input, set: (t) => (body.input = t) });
  else if (Array.isArray(body.input)) {
    const input = body.input as unknown[];
    input.forEach((item, i) => {
      if (typeof item === 'string') slots.push({ text: item, set: (t) => (input[i] = t) });
    });
  }
  return slots;
}

/** `holder[key]` as a string, or text parts (a tool_result part's own `content` in turn). */
function contentSlots(holder: Holder, key: string, slots: TextSlot[], depth = 0): void {
  const content = holder[key];
  if (typeof content === 'string') {
    slots.push({ text: content, set: (t) => (holder[key] = t) });
    return;
  }
  if (!Array.isArray(content)) return;
  for (const part of content as Array<Holder | null>) {
    if (!part || typeof part !== 'object') continue;
    if (part.type === 'text' && typeof part.text === 'string') slots.push({ text: part.text, set: (t) => (part.text = t) });
    // A tool_result holds no tool_result itself; the depth bound keeps a hostile body from recursing.
    else if (part.type === 'tool_result' && depth === 0) contentSlots(part, 'content', slots, 1);
  }
}

export function toolNames(body: ChatLike): string[] {
  if (!Array.isArray(body.tools)) return [];
  return body.tools.map((t) => t?.function?.name ?? t?.name).filter((n): n is string => typeof n === 'string');
}
