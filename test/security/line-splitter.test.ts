// The JSONL line splitter used by uploads and batch runs: linear in the input (a 30 MB line once took
// quadratic copying and stalled the process), exact at chunk boundaries, and an over-long line fails as
// soon as its cap is passed, without reading the rest.
import { describe, expect, it } from 'vitest';
import { LineSplitter, LineTooLongError, splitLines, type Line } from '../../shared/db/files.ts';

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect(source: AsyncIterable<Buffer>, max?: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const line of splitLines(source, max)) out.push(line);
  return out;
}

describe('line splitter', () => {
  it('gives the same lines at every chunk size, with CRLF, blank lines and no final newline', async () => {
    const text = '{"a":1}\r\n\n{"b":"é✓"}\n   \n{"c":3}';
    const expected = [
      { index: 1, lineNo: 1, text: '{"a":1}' },
      { index: 2, lineNo: 3, text: '{"b":"é✓"}' },
      { index: 3, lineNo: 5, text: '{"c":3}' },
    ];
    for (const size of [1, 2, 3, 5, 7, 64]) expect(await collect(chunked(Buffer.from(text), size))).toEqual(expected);
  });

  it('splits a 30 MB line in 16 KiB chunks in linear time', async () => {
    const line = Buffer.alloc(30 * 1024 * 1024, 'x');
    const data = Buffer.concat([line, Buffer.from('\n{"next":1}\n')]);
    const started = performance.now();
    const lines = await collect(chunked(data, 16 * 1024));
    const ms = performance.now() - started;
    expect(lines.map((l) => l.text.length)).toEqual([line.length, 10]);
    // Linear: tens of milliseconds. Re-copying the partial line per chunk took tens of seconds.
    expect(ms).toBeLessThan(3_000);
  });

  it('fails an over-long line as soon as the cap is passed, without reading the rest', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"ok":1}\n');
      for (;;) {
        pulled++;
        yield Buffer.alloc(64 * 1024, 'x');
      }
    }
    const err = await collect(endless(), 1024 * 1024).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LineTooLongError);
    expect((err as LineTooLongError).lineNo).toBe(2);
    expect(pulled).toBe(17); // 16 chunks are exactly 1 MiB, the 17th passes the cap
  });

  it('caps a complete line inside one chunk as well as a partial one', () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push(Buffer.from('abcd\n')).map((l) => l.text)).toEqual(['abcd']);
    expect(() => splitter.push(Buffer.from('abcde\n'))).toThrow(LineTooLongError);
  });
});
