// Ollama NDJSON stream -> normalized stream parts. Tool calls come whole in `done:false` lines, usage
// only on the final `done:true` line, and a failure after the 200 is a last line `{"error":"..."}`.
import type { StreamPart, StreamTranslator } from '../types.ts';
import { createLineSplitter } from '../common/ndjson.ts';
import { malformedStream } from '../common/stream-errors.ts';
import { translatorFrame } from '../common/translator-frame.ts';
import { synthesizeToolCallId } from '../common/ids.ts';
import { ollamaChatSchema, ollamaLogprobs, toolArguments } from './schema.ts';
import { convertOllamaUsage } from './usage.ts';
import { mapOllamaDoneReason } from './finish-reason.ts';
import { ollamaErrorFromMessage } from './errors.ts';

export function createOllamaStreamTranslator(): StreamTranslator {
  const lines = createLineSplitter();
  let tools = 0;
  let done = false;
  let failed = false;

  const out: StreamPart[] = [];
  const onLine = (line: string) => {
    if (failed || done) return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      out.push(malformedStream(line));
      failed = true;
      return;
    }
    const err = (json as { error?: unknown })?.error;
    if (err !== undefined) {
      out.push({ type: 'error', error: ollamaErrorFromMessage(typeof err === 'string' ? err : JSON.stringify(err), 500) });
      failed = true;
      return;
    }
    const chunk = ollamaChatSchema.parse(json);
    const content = chunk.message?.content ?? chunk.response;
    const thinking = chunk.message?.thinking ?? chunk.thinking;
    if (thinking) out.push({ type: 'delta', delta: { reasoning_content: thinking } });
    const logprobs = ollamaLogprobs(chunk.logprobs);
    if (content) out.push({ type: 'delta', delta: logprobs ? { content, logprobs } : { content } });
    else if (logprobs) out.push({ type: 'delta', delta: { logprobs } });
    for (const t of chunk.message?.tool_calls ?? []) {
      out.push({
        type: 'delta',
        delta: {
          tool_calls: [
            {
              index: tools++,
              id: t.id || synthesizeToolCallId(),
              type: 'function',
              function: { name: t.function.name, arguments: toolArguments(t.function.arguments) },
            },
          ],
        },
      });
    }
    if (chunk.done) {
      done = true;
      out.push({ type: 'finish', finish_reason: mapOllamaDoneReason(chunk.done_reason, tools > 0) });
      out.push({ type: 'usage', usage: convertOllamaUsage(chunk) });
    }
  };

  return translatorFrame(out, {
    feed: (text) => {
      for (const line of lines.push(text)) onLine(line);
    },
    flush: () => {
      for (const line of lines.end()) onLine(line);
    },
    settled: () => failed || done,
  });
}
