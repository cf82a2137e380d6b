// node --test bench/upstream-go.test.ts
// BENCH_UPSTREAM=go's upstream (bench/upstream-go, skipped without Go), through ProcessGroup.startMock
// as the benchmark starts it: answers the Node mock's way to a plain and a streamed chat, keeps the
// `mock:` directive's token count and pacing, and says [DONE] last.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ProcessGroup } from './processes.ts';

const noGo = spawnSync('go', ['version']).error ? 'Go is not installed' : false;

function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

void test(
  'serves the bench chat, plain and streamed with paced tokens, as the Node mock does',
  { skip: noGo, timeout: 90_000 },
  async () => {
    const saved = process.env.BENCH_UPSTREAM;
    process.env.BENCH_UPSTREAM = 'go';
    const group = new ProcessGroup();
    try {
      const { url } = await group.startMock();
      const plain = await post(url, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] });
      assert.equal(plain.status, 200);
      const answer = (await plain.json()) as { choices: Array<{ message: { content: string } }>; usage: { completion_tokens: number } };
      assert.equal(answer.choices[0]!.message.content, Array.from({ length: 16 }, (_, i) => `tok${i}`).join(' '));
      assert.equal(answer.usage.completion_tokens, 16);

      const t0 = performance.now();
      const streamed = await post(url, {
        model: 'gpt-4o-mini',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: `Say hello.\nmock:${JSON.stringify({ tokens: 3, itl_ms: 40 })}` }],
      });
      assert.match(streamed.headers.get('content-type') ?? '', /^text\/event-stream/);
      const events = (await streamed.text()).split('\n\n').filter(Boolean);
      const elapsed = performance.now() - t0;
      assert.ok(elapsed >= 110, `3 tokens 40 ms apart took ${elapsed.toFixed(0)} ms`);
      assert.equal(events.at(-1), 'data: [DONE]');
      interface Chunk {
        choices: Array<{ delta?: { content?: string }; finish_reason: string | null }>;
        usage?: { completion_tokens: number } | null;
      }
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)) as Chunk);
      assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'tok0 tok1 tok2');
      assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'stop');
      assert.deepEqual(chunks.at(-1)!.choices, []);
      assert.equal(chunks.at(-1)!.usage?.completion_tokens, 3);
    } finally {
      await group.stopAll();
      if (saved === undefined) delete process.env.BENCH_UPSTREAM;
      else process.env.BENCH_UPSTREAM = saved;
    }
  },
);
