// The OpenAI stream translator reads common chunks without zod (isPlainChunk). That is only sound if
// every chunk the fast check accepts is one zod accepts and returns unchanged; this checks both over
// mutations of typical chunks and, when ../shared/fixtures exists, over every recorded chunk.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chunkSchema, isPlainChunk } from '../../shared/providers/openai/stream.ts';
import { FIXTURES_DIR } from '../conformance/replay.ts';

const content = {
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  system_fingerprint: 'fp_1',
  service_tier: 'default',
  choices: [{ index: 0, delta: { content: 'Hi' }, logprobs: null, finish_reason: null }],
};
const bases: unknown[] = [
  content,
  { ...content, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, finish_reason: null }] },
  { ...content, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
  { ...content, choices: [] },
  { ...content, choices: [{ index: 0, delta: { reasoning_content: 'think', reasoning: null } }] },
  {
    ...content,
    choices: [
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a"' } }] },
        finish_reason: null,
      },
    ],
  },
  { ...content, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '1}' } }] } }] },
  { ...content, x_vendor: { anything: [1, 2] }, choices: [{ index: 0, delta: { content: 'a', extra: 1 }, extra: true }] },
];
const odd: unknown[] = [undefined, null, 0, 1.5, true, 'text', 'function', [], ['a'], {}, { name: 1 }];

/** Every way of replacing one value somewhere in `v` with one of `odd`. */
function* mutations(v: unknown): Generator<unknown> {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) for (const m of mutations(v[i])) yield v.map((x, j) => (j === i ? m : x));
  } else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of [...Object.keys(o), 'usage', 'logprobs', 'delta', 'function', 'type', 'index']) {
      for (const x of odd) yield { ...o, [k]: x };
      if (k in o) for (const m of mutations(o[k])) yield { ...o, [k]: m };
    }
  }
}

function expectSound(chunk: unknown): boolean {
  if (!isPlainChunk(chunk)) return false;
  const parsed = chunkSchema.safeParse(chunk);
  expect(parsed.success, JSON.stringify(chunk)).toBe(true);
  // Drop undefined values the way JSON would, then compare: zod must not have changed anything.
  expect(parsed.data).toEqual(JSON.parse(JSON.stringify(chunk)));
  return true;
}

describe('OpenAI stream chunks without zod', () => {
  it('takes the fast path for the chunks a stream is made of', () => {
    for (const b of bases) expect(expectSound(b), JSON.stringify(b)).toBe(true);
  });

  it('accepts only what zod accepts unchanged, over thousands of mutations', () => {
    let fast = 0;
    let total = 0;
    for (const b of bases)
      for (const m of mutations(b)) {
        total++;
        if (expectSound(m)) fast++;
        else if (chunkSchema.safeParse(m).success) {
          // Refused although zod accepts it: only the rare chunks the fast check leaves to zod on purpose.
          const c = m as { usage?: unknown; choices?: Array<{ logprobs?: unknown }> };
          expect(c.usage != null || c.choices!.some((x) => x.logprobs != null), JSON.stringify(m)).toBe(true);
        }
      }
    expect(total).toBeGreaterThan(2000);
    expect(fast).toBeGreaterThan(100);
  });

  it.skipIf(!existsSync(FIXTURES_DIR))('agrees with zod on every recorded chunk of the OpenAI-compatible providers', () => {
    let plain = 0;
    for (const provider of ['openai', 'groq', 'xai', 'ollama']) {
      const dir = path.join(FIXTURES_DIR, provider);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.sse'))) {
        for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          let json: unknown;
          try {
            json = JSON.parse(data);
          } catch {
            continue;
          }
          if (expectSound(json)) plain++;
        }
      }
    }
    expect(plain).toBeGreaterThan(0);
  });
});
