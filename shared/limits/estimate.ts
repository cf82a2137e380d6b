// Token estimates taken before a request runs (TPM admission, budget reservation, upstream-key
// limits). Deliberately cheap — no tokenizer on the hot path: about 4 characters per token for
// text plus a per-message overhead, a flat allowance per image. The estimate is corrected with the
// upstream's real usage afterwards, so it only has to be roughly right, and rather high than low.

const CHARS_PER_TOKEN = 3.5;
const PER_MESSAGE = 4;
const PER_IMAGE = 1_000;

function textTokens(n: number): number {
  return Math.ceil(n / CHARS_PER_TOKEN);
}

function contentTokens(content: unknown): number {
  if (typeof content === 'string') return textTokens(content.length);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content as Array<{ type?: string; text?: unknown }>) {
    if (typeof part?.text === 'string') n += textTokens(part.text.length);
    else if (part?.type === 'image_url' || part?.type === 'input_image' || part?.type === 'image') n += PER_IMAGE;
    else if (part) n += textTokens(JSON.stringify(part).length);
  }
  return n;
}

/** Prompt tokens of a chat or embeddings body. */
export function estimatePromptTokens(body: unknown): number {
  const b = body as { messages?: unknown; input?: unknown; tools?: unknown; system?: unknown };
  // An Anthropic Messages body keeps its system prompt beside the messages.
  let n = b.system ? contentTokens(b.system) : 0;
  if (Array.isArray(b.messages)) {
    for (const m of b.messages as Array<{ content?: unknown; tool_calls?: unknown }>) {
      n += PER_MESSAGE + contentTokens(m?.content);
      if (m?.tool_calls) n += textTokens(JSON.stringify(m.tool_calls).length);
    }
    if (b.tools) n += textTokens(JSON.stringify(b.tools).length);
  } else if (b.input !== undefined) {
    if (typeof b.input === 'string') n += textTokens(b.input.length);
    else if (Array.isArray(b.input))
      for (const x of b.input) n += typeof x === 'string' ? textTokens(x.length) : Array.isArray(x) ? x.length : 1;
  }
  return Math.max(1, n);
}

/** The most output a request may produce: its own cap, else the configured default. Embeddings: 0. */
export function maxOutputTokens(body: unknown, kind: 'chat' | 'embeddings', fallback: number): number {
  if (kind === 'embeddings') return 0;
  const b = body as { max_tokens?: number | null; max_completion_tokens?: number | null };
  return b.max_completion_tokens ?? b.max_tokens ?? fallback;
}
