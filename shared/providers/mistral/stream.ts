// Mistral's stream is OpenAI's SSE (usage on the finishing chunk, `data: [DONE]` last), except that a
// failure after the answer started arrives as its error body `{"object":"error","message",...}`,
// which has no `error` key for the OpenAI translator to see. Each event goes to that translator,
// re-framed, unless it is such an error.
import { createParser } from 'eventsource-parser';
import type { StreamPart, StreamTranslator } from '../types.ts';
import { createOpenAIStreamTranslator } from '../openai/stream.ts';
import { parseMistralError } from './errors.ts';
import { mistralUsage } from './usage.ts';

function mistralErrorEvent(data: string): boolean {
  try {
    const json = JSON.parse(data) as unknown;
    return !!json && typeof json === 'object' && (json as { object?: unknown }).object === 'error';
  } catch {
    return false;
  }
}

export function createMistralStreamTranslator(): StreamTranslator {
  const inner = createOpenAIStreamTranslator();
  let out: StreamPart[] = [];
  let failed = false;
  let rawUsage: unknown;
  const parser = createParser({
    onEvent(ev) {
      if (failed) return;
      if (mistralErrorEvent(ev.data)) {
        failed = true;
        const status = Number((JSON.parse(ev.data) as { code?: unknown }).code);
        out.push({ type: 'error', error: parseMistralError(status >= 400 && status < 600 ? status : 502, ev.data, {}) });
        return;
      }
      if (ev.data.includes('num_cached_tokens')) rawUsage = JSON.parse(ev.data);
      out.push(...inner.push(`${ev.event ? `event: ${ev.event}\n` : ''}data: ${ev.data}\n\n`));
    },
  });
  const withUsage = (parts: StreamPart[]) => parts.map((p) => (p.type === 'usage' ? { ...p, usage: mistralUsage(p.usage, rawUsage) } : p));
  return {
    push(text) {
      parser.feed(text);
      const parts = out;
      out = [];
      return withUsage(parts);
    },
    end() {
      const parts = out;
      out = [];
      // After an error the stream ended on purpose; the inner translator would call it truncated.
      return failed ? parts : withUsage([...parts, ...inner.end()]);
    },
  };
}
