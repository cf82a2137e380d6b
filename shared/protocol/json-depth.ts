// JSON nesting depth, measured without recursion. JSON.parse copes with 100k nested `[`, but every
// recursive walk after it (JSON.stringify in the adapters, zod, token estimates) overflows the
// stack, so deep bodies are refused at the edge, before they are parsed.

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Does `bytes` (UTF-8 JSON text, valid or not) nest arrays/objects deeper than `maxDepth`?
 * One linear pass; brackets inside strings do not count. Multi-byte UTF-8 sequences never contain
 * these ASCII bytes, so scanning bytes is exact.
 */
export function exceedsJsonDepth(bytes: Uint8Array, maxDepth: number): boolean {
  // A body cannot open more containers than it has bytes.
  if (bytes.length <= maxDepth) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) depth--;
  }
  return false;
}
