// Newline-delimited JSON, fed in arbitrary slices.
export function createLineSplitter(): { push(text: string): string[]; end(): string[] } {
  let buf = '';
  return {
    push(text) {
      buf += text;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      return lines.map((l) => l.trim()).filter((l) => l !== '');
    },
    end() {
      const rest = buf.trim();
      buf = '';
      return rest === '' ? [] : [rest];
    },
  };
}
