// The OpenAI stream translator reads text chunks by matching them against the previous text chunk's
// JSON around the content (ContentChunkTemplate). That is only sound if every chunk the template
// matches is one whose full parse is a text-only chunk with exactly that content: checked here over
// generated contents, over random edits of the JSON text, over whole streams against the full parse,
// and (when ../shared/fixtures exists) over every recorded stream of the OpenAI-compatible providers.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContentChunkTemplate, isContentOnly } from '../../shared/providers/openai/content-chunk-template.ts';
import { createOpenAIStreamTranslator, isPlainChunk } from '../../shared/providers/openai/stream.ts';
import type { StreamPart } from '../../shared/providers/types.ts';
import { FIXTURES_DIR } from '../conformance/replay.ts';

const base = {
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  service_tier: 'default',
  system_fingerprint: 'fp_1',
};
const textChunk = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }], ...extra });

/** What the full parse says a chunk's text is, or undefined when it is not a text-only chunk. */
function fullParseContent(data: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isPlainChunk(json) || !isContentOnly(json as Record<string, unknown>)) return undefined;
  return (json as { choices: Array<{ delta: { content: string } }> }).choices[0]!.delta.content;
}

function learned(data: string): ContentChunkTemplate {
  const t = new ContentChunkTemplate();
  t.learn(data, fullParseContent(data)!);
  return t;
}

describe('ContentChunkTemplate', () => {
  it('reads the content of the next chunks of the same stream, whatever the text', () => {
    const t = learned(textChunk('Hello'));
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(t.match(textChunk(s))).toBe(s);
      }),
      { numRuns: 2000 },
    );
    // Escapes written another way than JSON.stringify writes them.
    expect(t.match(textChunk('x').replace('"x"', '"\\u00e9\\/\\"\\n"'))).toBe('é/"\n');
  });

  it("ignores OpenAI's per-chunk padding and still checks that it is valid JSON", () => {
    const t = learned(textChunk('Hello', { obfuscation: 'ZGF' }));
    expect(t.match(textChunk(' World', { obfuscation: 'lRK2aBv' }))).toBe(' World');
    expect(t.match(textChunk(' World', { obfuscation: '' }))).toBe(' World');
    expect(t.match(textChunk('a', { obfuscation: 'x' }).replace('"x"', '"\\q"'))).toBeUndefined(); // bad escape
    expect(t.match(textChunk('a', { obfuscation: 'x', more: 1 }))).toBeUndefined();
    expect(t.match(textChunk('a'))).toBeUndefined();
  });

  it('matches nothing that differs from the learned chunk outside the content', () => {
    const t = learned(textChunk('Hello'));
    const others = [
      textChunk('a', { usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }),
      JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: 'a' }, logprobs: null, finish_reason: 'stop' }] }),
      JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'a' }, logprobs: null, finish_reason: null }] }),
      JSON.stringify({ ...base, model: 'other', choices: [{ index: 0, delta: { content: 'a' }, logprobs: null, finish_reason: null }] }),
      textChunk('a').replace('"a"', '"a","refusal":"no"'),
      textChunk('a').replace('"a"', '"a" '),
      textChunk('a').replace('"a"', '"a\\"'),
      textChunk('a').replace('"a"', '"a\u0001"'), // a raw control character: invalid JSON
      textChunk('a').replace('"a"', '1'),
      textChunk('a').replace('"a"', 'null'),
      textChunk('a') + ' ',
    ];
    for (const o of others) expect(t.match(o), o).toBeUndefined();
  });

  it('learns nothing from a chunk whose text has "content": twice or a content that is not where the key is', () => {
    const twice = textChunk('a', { x: { content: 'b' } });
    const t = new ContentChunkTemplate();
    t.learn(twice, 'a');
    expect(t.match(twice)).toBeUndefined();
    const wrong = new ContentChunkTemplate();
    wrong.learn(textChunk('a'), 'b');
    expect(wrong.match(textChunk('a'))).toBeUndefined();
  });

  it('never answers for a text the full parse reads otherwise (random edits of a chunk)', () => {
    const source = textChunk('Hi there', { obfuscation: 'abc' });
    const t = learned(source);
    const edit = fc.tuple(
      fc.nat(source.length),
      fc.nat(4),
      fc.string({ maxLength: 4, unit: fc.constantFrom('"', '\\', ',', '}', 'a', ' ', 'u', '0', ':') }),
    );
    let matched = 0;
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
        let text = source;
        for (const [at, del, ins] of edits) text = text.slice(0, at % (text.length + 1)) + ins + text.slice((at % (text.length + 1)) + del);
        const got = t.match(text);
        if (got !== undefined) {
          matched++;
          expect(fullParseContent(text), text).toBe(got);
        }
      }),
      { numRuns: 20000 },
    );
    expect(matched).toBeGreaterThan(100); // edits inside the content still match
  });
});

/** A translator's parts for a stream's events, each pushed whole. */
function translate(events: string[]): StreamPart[] {
  const tr = createOpenAIStreamTranslator();
  return [...events.flatMap((e) => tr.push(`data: ${e}\n\n`)), ...tr.end()];
}

describe('the OpenAI stream translator with the template', () => {
  it('gives the same parts as a parse of every chunk in full', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 12 }), fc.boolean(), (texts, padded) => {
        const pad = (i: number) => (padded ? { obfuscation: 'p'.repeat(i % 5) } : {});
        const events = [
          JSON.stringify({
            ...base,
            choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
          }),
          ...texts.map((s, i) => textChunk(s, pad(i))),
          JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] }),
          JSON.stringify({
            ...base,
            choices: [],
            usage: { prompt_tokens: 3, completion_tokens: texts.length, total_tokens: 3 + texts.length },
          }),
          '[DONE]',
        ];
        // Each chunk alone through a fresh translator never meets a learned template: the full parse.
        const meta = { system_fingerprint: 'fp_1', service_tier: 'default' };
        const expected: StreamPart[] = texts
          .filter(Boolean)
          .map((content, i) => ({ type: 'delta', delta: i === 0 ? { content, meta } : { content } }));
        const parts = translate(events);
        expect(parts.filter((p) => p.type === 'delta')).toEqual(expected);
        expect(parts.filter((p) => p.type !== 'delta')).toEqual([
          { type: 'finish', finish_reason: 'stop' },
          { type: 'usage', usage: expect.objectContaining({ prompt_tokens: 3, completion_tokens: texts.length }) },
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('reports a malformed chunk that looks like the template around a broken literal', () => {
    const parts = translate([textChunk('a'), textChunk('b').replace('"b"', '"\\q"')]);
    expect(parts.at(-1)).toMatchObject({ type: 'error' });
  });
});

describe.skipIf(!existsSync(FIXTURES_DIR))('recorded streams', () => {
  it('match their text chunks after the first and read exactly what the full parse reads', () => {
    let matched = 0;
    for (const provider of ['openai', 'groq', 'xai', 'ollama']) {
      const dir = path.join(FIXTURES_DIR, provider);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.sse'))) {
        const t = new ContentChunkTemplate();
        for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          const got = t.match(data);
          if (got !== undefined) {
            matched++;
            expect(fullParseContent(data), `${provider}/${f}: ${data}`).toBe(got);
            continue;
          }
          const content = fullParseContent(data);
          if (content !== undefined) t.learn(data, content);
        }
      }
    }
    expect(matched).toBeGreaterThan(0);
  });
});
