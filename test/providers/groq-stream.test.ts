// Groq's stream quirk, handled by a hook on the OpenAI translator: the final usage arrives under
// `x_groq.usage`, not at the top level. Without the hook the answer would be billed as zero tokens.
import { describe, expect, it } from 'vitest';
import { groq } from '../../shared/providers/groq/index.ts';
import { openai } from '../../shared/providers/openai/index.ts';

const sse = [
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}}',
  'data: [DONE]',
  '',
].join('\n\n');

function parts(adapter: typeof groq) {
  const t = adapter.createStreamTranslator('llama-3.3-70b-versatile');
  // Fed in 3-byte slices, as the other stream tests do.
  const out = [];
  for (let i = 0; i < sse.length; i += 3) out.push(...t.push(sse.slice(i, i + 3)));
  out.push(...t.end());
  return out;
}

describe('groq stream usage hook', () => {
  it('reads usage from x_groq.usage', () => {
    const usage = parts(groq).find((p) => p.type === 'usage');
    expect(usage).toMatchObject({ usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } });
  });

  it('is Groq-only: the OpenAI translator does not look there', () => {
    expect(parts(openai).find((p) => p.type === 'usage')).toBeUndefined();
  });
});
