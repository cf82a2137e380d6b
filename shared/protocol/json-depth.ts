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
 * Does `json` (UTF-8 bytes or a string, valid JSON or not) nest arrays/objects deeper than `maxDepth`?
 * One linear pass; brackets inside strings do not count. Multi-byte UTF-8 sequences never contain
 * these ASCII bytes, so scanning bytes is exact.
 */
export function exceedsJsonDepth(json: Uint8Array | string, maxDepth: number): boolean {
  // A body cannot open more containers than it has bytes.
  if (json.length <= maxDepth) return false;
  // Strings (batch lines) are encoded first; they are off the hot path.
  const bytes = typeof json === 'string' ? Buffer.from(json) : json;
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === QUOTE) {
      // Jump to the closing quote with the native search (most of a body is string content); a
      // quote preceded by an odd number of backslashes is escaped.
      let end = i;
      do {
        end = bytes.indexOf(QUOTE, end + 1);
        if (end === -1) return false; // unterminated: JSON.parse will refuse it
      } while (escaped(bytes, end));
      i = end;
    } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) depth--;
  }
  return false;
}

function escaped(bytes: Uint8Array, quoteAt: number): boolean {
  let backslashes = 0;
  for (let j = quoteAt - 1; j >= 0 && bytes[j] === BACKSLASH; j--) backslashes++;
  return backslashes % 2 === 1;
}
