// Gemini streamGenerateContent -> normalized stream parts. `?alt=sse` frames each
// GenerateContentResponse as `data: {...}\r\n\r\n` and ends with the body (no [DONE]); a body that
// starts with `[` is the plain JSON-array stream. Function calls arrive whole (Gemini API) or, on
// Vertex with streamFunctionCallArguments, as a name followed by partialArgs pieces.
import { createParser } from 'eventsource-parser';
import type { StreamPart, StreamTranslator } from '../types.ts';
import type { ChoiceLogprobs } from '../../protocol/events.ts';
import { malformedStream } from '../common/stream-errors.ts';
import { translatorFrame } from '../common/translator-frame.ts';
import { convertGeminiLogprobs } from './logprobs.ts';
import { geminiResponseSchema, type GeminiPartialArg, type GeminiResponsePart } from './schema.ts';
import { convertGeminiUsage, type GeminiUsage } from './usage.ts';
import { mapGeminiFinishReason } from './finish-reason.ts';
import { encodeGeminiToolCallId } from './tool-call-id.ts';
import { geminiErrorFromBody } from './errors.ts';
import { createJsonArraySplitter } from './json-array-splitter.ts';

interface PendingCall {
  id?: string;
  name: string;
  args: Record<string, unknown>;
  signature?: string;
}

export function createGeminiStreamTranslator(): StreamTranslator {
  const out: StreamPart[] = [];
  let mode: 'unknown' | 'sse' | 'array' = 'unknown';
  let tools = 0;
  let pending: PendingCall | null = null;
  let usage: GeminiUsage | undefined;
  let finished = false;
  let failed = false;
  const arraySplitter = createJsonArraySplitter();
  const sse = createParser({ onEvent: (ev) => onData(ev.data) });

  const emitCall = (call: PendingCall) => {
    out.push({
      type: 'delta',
      delta: {
        tool_calls: [
          {
            index: tools++,
            id: encodeGeminiToolCallId(call.id, call.signature),
            type: 'function',
            function: { name: call.name, arguments: JSON.stringify(call.args) },
          },
        ],
      },
    });
  };
  const flushPending = () => {
    if (pending) emitCall(pending);
    pending = null;
  };

  const onPart = (part: GeminiResponsePart) => {
    const fc = part.functionCall;
    if (fc) {
      if (fc.name) {
        flushPending();
        const call: PendingCall = { name: fc.name, args: { ...(fc.args ?? {}) } };
        if (fc.id) call.id = fc.id;
        if (part.thoughtSignature) call.signature = part.thoughtSignature;
        if (fc.willContinue) pending = call;
        else emitCall(call);
      } else if (pending) {
        for (const pa of fc.partialArgs ?? []) applyPartialArg(pending.args, pa);
        if (!fc.willContinue) flushPending();
      }
      return;
    }
    if (part.text) out.push({ type: 'delta', delta: part.thought ? { reasoning_content: part.text } : { content: part.text } });
  };

  function onData(data: string) {
    if (failed) return;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      out.push(malformedStream(data));
      failed = true;
      return;
    }
    if (json && typeof json === 'object' && 'error' in json) {
      out.push({ type: 'error', error: geminiErrorFromBody(json, undefined) });
      failed = true;
      return;
    }
    const chunk = geminiResponseSchema.parse(json);
    if (chunk.usageMetadata) usage = chunk.usageMetadata;
    const candidate = chunk.candidates?.[0];
    const before = out.length;
    for (const part of candidate?.content?.parts ?? []) onPart(part);
    const logprobs = convertGeminiLogprobs(candidate?.logprobsResult);
    if (logprobs) attachLogprobs(out, before, logprobs);
    if (candidate?.finishReason) {
      flushPending();
      finished = true;
      out.push({ type: 'finish', finish_reason: mapGeminiFinishReason(candidate.finishReason, tools > 0) });
    } else if (!candidate && chunk.promptFeedback?.blockReason) {
      finished = true;
      out.push({ type: 'finish', finish_reason: 'content_filter' });
    }
    // usageMetadata is cumulative on every chunk: the last one is the total.
    if (finished && chunk.usageMetadata) out.push({ type: 'usage', usage: convertGeminiUsage(usage) });
  }

  return translatorFrame(out, {
    feed(text) {
      // Gemini streams SSE with `alt=sse`, a JSON array without it: the first byte tells which.
      if (mode === 'unknown') {
        const first = text.trimStart()[0];
        if (first) mode = first === '[' ? 'array' : 'sse';
      }
      if (mode === 'sse') sse.feed(text);
      else if (mode === 'array') for (const obj of arraySplitter.push(text)) onData(obj);
    },
    settled: () => failed || finished,
  });
}

/** Sets `$.a.b[0]`-style paths; string pieces of one value are concatenated. */
function applyPartialArg(args: Record<string, unknown>, pa: GeminiPartialArg): void {
  const keys = [...pa.jsonPath.replace(/^\$\.?/, '').matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) =>
    m[2] !== undefined ? Number(m[2]) : m[1]!,
  );
  if (keys.length === 0) return;
  let target: Record<string | number, unknown> = args;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!;
    if (target[k] === undefined || target[k] === null || typeof target[k] !== 'object')
      target[k] = typeof keys[i + 1] === 'number' ? [] : {};
    target = target[k] as Record<string | number, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (pa.stringValue !== undefined) target[last] = (typeof target[last] === 'string' ? (target[last] as string) : '') + pa.stringValue;
  else if (pa.numberValue !== undefined) target[last] = pa.numberValue;
  else if (pa.boolValue !== undefined) target[last] = pa.boolValue;
  else if ('nullValue' in pa) target[last] = null;
}

/** A chunk's logprobs ride on its text delta (the tokens they score), or on a delta of their own. */
function attachLogprobs(out: StreamPart[], from: number, logprobs: ChoiceLogprobs): void {
  for (let i = out.length - 1; i >= from; i--) {
    const part = out[i]!;
    if (part.type === 'delta' && part.delta.content !== undefined) {
      part.delta.logprobs = logprobs;
      return;
    }
  }
  out.push({ type: 'delta', delta: { logprobs } });
}
