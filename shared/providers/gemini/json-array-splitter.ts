// streamGenerateContent without `alt=sse` streams one JSON array: `[{...}\n,\n{...}]`. This yields
// each top-level element as soon as its closing brace arrives.
export function createJsonArraySplitter(): { push(text: string): string[] } {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let current = '';
  return {
    push(text) {
      const done: string[] = [];
      for (const ch of text) {
        if (depth >= 1) current += ch;
        if (inString) {
          if (escaped) escaped = false;
          else if (ch === '\\') escaped = true;
          else if (ch === '"') inString = false;
          continue;
        }
        if (ch === '"') inString = true;
        else if (ch === '{' || ch === '[') {
          depth++;
          if (depth === 2 && ch === '{') current = '{';
        } else if (ch === '}' || ch === ']') {
          depth--;
          if (depth === 1 && ch === '}') {
            done.push(current);
            current = '';
          }
        }
      }
      return done;
    },
  };
}
