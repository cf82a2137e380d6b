// Every recording under ../shared/fixtures replayed through its adapter and checked against what an
// OpenAI client must see (see oracle.ts). New recordings of the same kinds are picked up by name.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getAdapter } from '../../shared/providers/registry.ts';
import { classify, FIXTURES_DIR, PROVIDERS, runTranslator, wireBytes, type Recording } from './replay.ts';
import { expectedChat, expectedError, expectedStream, type Expected } from './oracle.ts';

const recordings: Recording[] = existsSync(FIXTURES_DIR)
  ? PROVIDERS.flatMap((p) =>
      existsSync(path.join(FIXTURES_DIR, p))
        ? readdirSync(path.join(FIXTURES_DIR, p))
            .sort()
            .map((f) => classify(p, f))
            .filter((r): r is Recording => r !== null)
        : [],
    )
  : [];

function checkAgainst(
  actual: {
    content: string | null;
    reasoning: string;
    tools: Array<{ id: string; name: string; arguments: string }>;
    finish: string | null;
    usage: unknown;
  },
  want: Expected,
) {
  expect(actual.content ?? '').toBe(want.content);
  expect(actual.reasoning).toBe(want.reasoning);
  expect(actual.tools.map((t) => t.name)).toEqual(want.tools.map((t) => t.name));
  for (const [i, t] of actual.tools.entries()) {
    expect(t.id, 'every tool call has an id').toMatch(/\S/);
    expect(JSON.parse(t.arguments), `arguments of ${t.name}`).toEqual(want.tools[i]!.args);
  }
  expect(new Set(actual.tools.map((t) => t.id)).size, 'tool call ids are unique').toBe(actual.tools.length);
  expect(actual.finish).toBe(want.finish);
  if (want.usage) {
    const u = actual.usage as {
      prompt_tokens: number;
      completion_tokens: number;
      total_tokens: number;
      prompt_tokens_details?: { cached_tokens?: number };
      completion_tokens_details?: { reasoning_tokens?: number };
    };
    expect({ prompt: u.prompt_tokens, completion: u.completion_tokens, total: u.total_tokens }).toEqual({
      prompt: want.usage.prompt_tokens,
      completion: want.usage.completion_tokens,
      total: want.usage.total_tokens,
    });
    if (want.usage.cached_tokens !== undefined) expect(u.prompt_tokens_details?.cached_tokens).toBe(want.usage.cached_tokens);
    if (want.usage.reasoning_tokens !== undefined) expect(u.completion_tokens_details?.reasoning_tokens).toBe(want.usage.reasoning_tokens);
  }
}

// Outside CI a checkout without ../shared/fixtures skips this group; in CI (CI=true) the recordings are
// part of the contract, so their absence is a failure, never a silent skip.
describe.runIf(process.env.CI === 'true')('recorded provider traffic in CI', () => {
  it(`is present at ${FIXTURES_DIR}`, () => {
    expect(existsSync(FIXTURES_DIR), `CI=true but ${FIXTURES_DIR} is missing`).toBe(true);
  });
});

describe.skipIf(!existsSync(FIXTURES_DIR))('recorded provider traffic through the adapters', () => {
  it('finds recordings of every kind', () => {
    const kinds = new Set(recordings.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(['chat', 'embeddings', 'error', 'stream']);
  });

  for (const rec of recordings) {
    const adapter = getAdapter(rec.dialect)!;
    const name = `${rec.provider}/${rec.file}`;
    if (rec.kind === 'chat') {
      it(`${name}: non-streaming answer`, () => {
        const body = JSON.parse(readFileSync(rec.path, 'utf8'));
        const result = adapter.parseChatResponse(body, 'm');
        const want = expectedChat(rec, body);
        checkAgainst(
          {
            content: result.message.content,
            reasoning: result.message.reasoning_content ?? '',
            tools: (result.message.tool_calls ?? []).map((t) => ({ id: t.id, name: t.function.name, arguments: t.function.arguments })),
            finish: result.finish_reason,
            usage: result.usage,
          },
          want,
        );
      });
    } else if (rec.kind === 'stream') {
      it(`${name}: stream, cut at arbitrary byte boundaries`, () => {
        const wire = wireBytes(rec);
        const want = expectedStream(rec, wire);
        for (const seed of [1, 7, 42]) {
          const got = runTranslator(adapter.createStreamTranslator('m'), wire, seed);
          if (want.error) {
            expect(got.error, 'a failed or cut stream must end in an error part').not.toBeNull();
            expect(got.error!.error.status).toBeGreaterThanOrEqual(400);
            expect(got.error!.error.error.message).toMatch(/\S/);
          } else {
            expect(got.error).toBeNull();
            if (want.usage) expect(got.usage, 'usage is reported').not.toBeNull();
          }
          // What was delivered before an error must still be exactly the upstream's text.
          checkAgainst(
            {
              content: got.content,
              reasoning: got.reasoning,
              tools: got.toolCalls,
              finish: want.error ? want.finish : got.finish,
              usage: want.error ? null : got.usage,
            },
            want.error ? { ...want, usage: null } : want,
          );
        }
      });
      it(`${name}: stream cut in the middle ends in an error`, () => {
        const wire = wireBytes(rec);
        const want = expectedStream(rec, wire);
        if (want.error) return; // already a failing stream
        const t = adapter.createStreamTranslator('m');
        const parts = [...t.push(wire.slice(0, Math.floor(wire.length / 2))), ...t.end()];
        expect(parts.at(-1)?.type, 'half a stream is never a silent success').toBe('error');
      });
    } else if (rec.kind === 'error') {
      it(`${name}: error envelope, status and retry hint`, () => {
        const text = readFileSync(rec.path, 'utf8');
        const want = expectedError(rec, JSON.parse(text));
        const err = adapter.parseError(rec.meta.status!, text, rec.meta.headers);
        expect(want.statuses).toContain(err.status);
        expect(err.error.message).toBe(want.message);
        expect(typeof err.error.type).toBe('string');
        expect(err.retryable).toBe(want.retryable);
        if (want.retryAfterMs !== undefined) expect(err.retryAfterMs).toBe(want.retryAfterMs);
        if (rec.meta.status === 429) expect(err.error.code).toMatch(/rate_limit|quota/);
      });
    } else {
      it(`${name}: embeddings, float and base64`, () => {
        const body = JSON.parse(readFileSync(rec.path, 'utf8'));
        const vectors: number[][] =
          body.embeddings?.map((e: { values?: number[] } | number[]) => (Array.isArray(e) ? e : e.values)) ??
          body.data.map((d: { embedding: number[] | string }) => d.embedding);
        const floats = adapter.parseEmbeddingsResponse(body, 'm', { model: 'm', input: 'x', encoding_format: 'float' });
        if (typeof vectors[0] === 'string') return expect(floats.data.map((d) => d.embedding)).toEqual(vectors);
        expect(floats.data.map((d) => d.embedding)).toEqual(vectors);
        expect(floats.data.map((d) => d.index)).toEqual(vectors.map((_, i) => i));
        const b64 = adapter.parseEmbeddingsResponse(body, 'm', { model: 'm', input: 'x', encoding_format: 'base64' });
        if (rec.dialect === 'openai') return; // OpenAI encodes upstream; we forward what it sent
        const decoded = b64.data.map((d) =>
          Array.from(new Float32Array(Uint8Array.from(Buffer.from(d.embedding as string, 'base64')).buffer)),
        );
        decoded.forEach((v, i) => v.forEach((x, j) => expect(x).toBeCloseTo(vectors[i]![j]!, 5)));
      });
    }
  }
});
