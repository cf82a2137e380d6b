// The chunks of one OpenAI-style stream that carry text differ only in the text: the same id, created,
// model, fingerprint and tier, byte for byte, around `"content":"<token>"`. Once one such chunk was
// parsed in full, the next are matched against its text around the content and only the string
// literal in between is parsed: no object per chunk, choice and delta (the largest share of a
// streamed token's cost in the worker; docs/benchmarks.md, "chunktemplate"). Anything else (another
// field changed, a finish, usage, a role, tool calls) does not match and takes the full parse.

/** A chunk the template may be learned from: one choice whose delta is exactly `{ content }`. */
export interface ContentOnlyChunk {
  choices: Array<{ delta: { content: string } }>;
}

const KEY = '"content":';

/**
 * Whether `chunk` (parsed from `data`) is a text-only chunk: one
 * choice with `index`, a delta with nothing but a string `content`, and null or absent `logprobs`,
 * `finish_reason`, `usage`. Extra top-level fields are fine: they are part of the template's text.
 */
export function isContentOnly(chunk: Record<string, unknown>): chunk is Record<string, unknown> & ContentOnlyChunk {
  if (chunk.usage != null) return false;
  const choices = chunk.choices;
  if (!Array.isArray(choices) || choices.length !== 1) return false;
  const choice = choices[0] as Record<string, unknown>;
  for (const k in choice) {
    if (k === 'index' || k === 'delta') continue;
    if ((k === 'logprobs' || k === 'finish_reason') && choice[k] == null) continue;
    return false;
  }
  const delta = choice.delta as Record<string, unknown> | undefined;
  if (!delta || typeof delta.content !== 'string') return false;
  for (const k in delta) if (k !== 'content') return false;
  return true;
}

/** Where the JSON string literal starting at `from` (a `"`) ends, one past its closing quote; -1 if it does not. */
function endOfStringLiteral(text: string, from: number): number {
  for (let i = from + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22 /* " */) return i + 1;
  }
  return -1;
}

/** A string field that changes on every chunk and is not read: OpenAI pads its chunks with random text. */
const PADDING_KEY = '"obfuscation":';

/** Where the value after the single occurrence of `key` in `text` starts (its `"`), or -1. */
function valueAfterOnlyKey(text: string, key: string): number {
  const at = text.indexOf(key);
  if (at < 0 || text.indexOf(key, at + 1) >= 0) return -1;
  let i = at + key.length;
  while (text.charCodeAt(i) === 0x20) i++;
  return text.charCodeAt(i) === 0x22 ? i : -1;
}

export class ContentChunkTemplate {
  /** The text before the content's literal. */
  private prefix = '';
  /** The text after it, up to the padding's literal when there is one, else to the end. */
  private middle = '';
  /** The text after the padding's literal; undefined when the chunk had no padding after the content. */
  private tail: string | undefined;

  /**
   * Learns the text around the content of `data`, a chunk `isContentOnly` accepted with `content`.
   * Only when `"content":` occurs once in the text (quotes inside strings are escaped, so a key is the
   * only place it can be) and the literal there reads back as `content`; otherwise nothing is learned.
   */
  learn(data: string, content: string): void {
    const start = valueAfterOnlyKey(data, KEY);
    if (start < 0) return;
    const end = endOfStringLiteral(data, start);
    if (end < 0 || read(data, start, end) !== content) return;
    this.prefix = data.slice(0, start);
    const after = data.slice(end);
    const padding = valueAfterOnlyKey(after, PADDING_KEY);
    const paddingEnd = padding < 0 ? -1 : endOfStringLiteral(after, padding);
    this.middle = paddingEnd < 0 ? after : after.slice(0, padding);
    this.tail = paddingEnd < 0 ? undefined : after.slice(paddingEnd);
  }

  /** The content of `data` when it is the learned chunk with other string literals in the same places. */
  match(data: string): string | undefined {
    const { prefix, middle, tail } = this;
    if (!prefix || !textAt(data, 0, prefix) || data.charCodeAt(prefix.length) !== 0x22) return undefined;
    const end = endOfStringLiteral(data, prefix.length);
    if (end < 0 || !textAt(data, end, middle)) return undefined;
    if (tail === undefined) {
      if (data.length !== end + middle.length) return undefined;
    } else {
      const padding = end + middle.length;
      if (data.charCodeAt(padding) !== 0x22) return undefined;
      const paddingEnd = endOfStringLiteral(data, padding);
      if (paddingEnd < 0 || data.length !== paddingEnd + tail.length || !textAt(data, paddingEnd, tail)) return undefined;
      if (read(data, padding, paddingEnd) === undefined) return undefined;
    }
    return read(data, prefix.length, end);
  }
}

/**
 * Whether `text` holds `part` at `at`. A slice and `===` rather than `startsWith`: V8's `startsWith`
 * compares character by character (0.5 µs for a chunk's 180-character prefix against 0.03 µs).
 */
function textAt(text: string, at: number, part: string): boolean {
  return text.slice(at, at + part.length) === part;
}

/** The JSON string literal data[start, end); undefined when it is not a valid one (a bad escape, a raw control character). */
function read(data: string, start: number, end: number): string | undefined {
  try {
    return JSON.parse(data.slice(start, end)) as string;
  } catch {
    return undefined;
  }
}
