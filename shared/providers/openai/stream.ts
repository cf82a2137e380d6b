// OpenAI SSE (`data: <chunk>` ... `data: [DONE]`) to normalized stream parts.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { z } from 'zod';
import type { ChunkDelta } from '../../protocol/events.ts';
import type { StreamPart, StreamTranslator } from '../types.ts';
import { choiceLogprobsSchema, normalizeOpenAIUsage, openAILogprobs, openAIResponseMeta, openAIUsageSchema } from './parse-response.ts';
import type { ResponseMeta } from '../../protocol/events.ts';
import { parseOpenAIErrorBody } from './errors.ts';
import { malformedStream } from '../common/stream-errors.ts';
import { translatorFrame } from '../common/translator-frame.ts';
import { ContentChunkTemplate, isContentOnly } from './content-chunk-template.ts';

export const chunkSchema = z
  .object({
    choices: z
      .array(
        z
          .object({
            delta: z
              .object({
                role: z.string().nullable().optional(),
                content: z.string().nullable().optional(),
                reasoning_content: z.string().nullable().optional(),
                reasoning: z.string().nullable().optional(),
                refusal: z.string().nullable().optional(),
                tool_calls: z
                  .array(
                    z
                      .object({
                        index: z.number(),
                        id: z.string().nullable().optional(),
                        type: z.literal('function').nullable().optional(),
                        function: z
                          .object({ name: z.string().nullable().optional(), arguments: z.string().nullable().optional() })
                          .loose()
                          .optional(),
                      })
                      .loose(),
                  )
                  .nullable()
                  .optional(),
              })
              .loose()
              .optional(),
            finish_reason: z.string().nullable().optional(),
            logprobs: choiceLogprobsSchema,
          })
          .loose(),
      )
      .optional(),
    usage: openAIUsageSchema.nullable().optional(),
    system_fingerprint: z.string().nullable().optional(),
    service_tier: z.string().nullable().optional(),
    error: z.unknown().optional(),
  })
  .loose();

type Chunk = z.infer<typeof chunkSchema>;
type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown) => v === undefined || v === null || typeof v === 'string';

/**
 * True when `json` is a chunk `chunkSchema` accepts as it is: strings where it wants strings, no usage
 * and no logprobs (those rarer chunks go through zod). Such a chunk is read without zod's copy of every
 * object, which was the largest single cost of a streamed token in the worker (docs/benchmarks.md,
 * "chunkfast"). Anything this check is unsure of takes the zod path, so zod stays the judge.
 */
export function isPlainChunk(json: unknown): json is Chunk {
  if (!isObject(json)) return false;
  if ((json.usage !== undefined && json.usage !== null) || !isText(json.system_fingerprint) || !isText(json.service_tier)) return false;
  const choices = json.choices;
  if (choices === undefined) return true;
  if (!Array.isArray(choices)) return false;
  for (const c of choices as unknown[]) {
    if (!isObject(c) || !isText(c.finish_reason) || (c.logprobs !== undefined && c.logprobs !== null)) return false;
    const d = c.delta;
    if (d === undefined) continue;
    if (!isObject(d) || !isText(d.role) || !isText(d.content) || !isText(d.reasoning_content) || !isText(d.reasoning) || !isText(d.refusal))
      return false;
    const calls = d.tool_calls;
    if (calls === undefined || calls === null) continue;
    if (!Array.isArray(calls)) return false;
    for (const t of calls as unknown[]) {
      if (!isObject(t) || typeof t.index !== 'number' || !isText(t.id)) return false;
      if (t.type !== undefined && t.type !== null && t.type !== 'function') return false;
      const f = t.function;
      if (f !== undefined && (!isObject(f) || !isText(f.name) || !isText(f.arguments))) return false;
    }
  }
  return true;
}

/**
 * What an OpenAI-compatible provider changes in the stream without a translator of its own: a hook per
 * quirk (e.g. Groq's usage under `x_groq`), so this file stays about OpenAI's wire format.
 */
export interface OpenAIStreamHooks {
  /** The raw usage object of a chunk; default: `chunk.usage`. */
  usageOf?: (chunk: Record<string, unknown>) => unknown;
}

export function createOpenAIStreamTranslator(hooks: OpenAIStreamHooks = {}): StreamTranslator {
  const out: StreamPart[] = [];
  let sawDone = false;
  let sawFinish = false;
  let failed = false;
  // Fingerprint and tier repeat on every chunk; they ride once, on the first delta relayed.
  let meta: ResponseMeta | undefined;
  let metaRelayed = false;
  const template = new ContentChunkTemplate();
  const relay = (delta: ChunkDelta) => {
    if (meta && !metaRelayed) {
      delta.meta = meta;
      metaRelayed = true;
    }
    out.push({ type: 'delta', delta });
  };
  const relayContent = (content: string) => {
    if (content) relay({ content });
  };

  const onEvent = (ev: EventSourceMessage) => {
    if (failed) return;
    const data = ev.data.trim();
    if (data === '[DONE]') {
      sawDone = true;
      return;
    }
    if (ev.event === undefined) {
      const content = template.match(data);
      if (content !== undefined) return relayContent(content);
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      out.push(malformedStream(data));
      failed = true;
      return;
    }
    // Mid-stream error (Groq's `event: error`, or a bare error object on an OpenAI-compatible server).
    if (ev.event === 'error' || (json && typeof json === 'object' && 'error' in json && !('choices' in json))) {
      out.push({ type: 'error', error: parseOpenAIErrorBody(json, 502) });
      failed = true;
      return;
    }
    const chunk: Chunk = isPlainChunk(json) ? json : chunkSchema.parse(json);
    const rawUsage = hooks.usageOf ? hooks.usageOf(chunk) : chunk.usage;
    if (!metaRelayed && !meta) meta = openAIResponseMeta(chunk);
    if (!rawUsage && isContentOnly(chunk)) {
      // A text-only chunk: its text around the content is what the next ones are matched against.
      const content = chunk.choices[0]!.delta.content;
      template.learn(data, content);
      return relayContent(content);
    }
    for (const choice of chunk.choices ?? []) {
      const d = choice.delta;
      if (d) {
        const delta: ChunkDelta = {};
        if (d.content) delta.content = d.content;
        const reasoning = d.reasoning_content ?? d.reasoning;
        if (reasoning) delta.reasoning_content = reasoning;
        if (d.tool_calls?.length) {
          delta.tool_calls = d.tool_calls.map((t) => {
            const tc: NonNullable<ChunkDelta['tool_calls']>[number] = { index: t.index };
            if (t.id) tc.id = t.id;
            if (t.id || t.type) tc.type = 'function';
            if (t.function) {
              tc.function = {};
              if (t.function.name) tc.function.name = t.function.name;
              if (t.function.arguments !== undefined && t.function.arguments !== null) tc.function.arguments = t.function.arguments;
            }
            return tc;
          });
        }
        if (d.refusal) delta.refusal = d.refusal;
        const logprobs = openAILogprobs(choice.logprobs);
        if (logprobs) delta.logprobs = logprobs;
        if (
          delta.content !== undefined ||
          delta.reasoning_content !== undefined ||
          delta.refusal !== undefined ||
          delta.tool_calls ||
          logprobs
        )
          relay(delta);
      }
      if (choice.finish_reason) {
        sawFinish = true;
        out.push({ type: 'finish', finish_reason: choice.finish_reason });
      }
    }
    if (rawUsage) out.push({ type: 'usage', usage: normalizeOpenAIUsage(openAIUsageSchema.parse(rawUsage)) });
  };
  const parser = createParser({ onEvent });
  return translatorFrame(out, { feed: (text) => parser.feed(text), settled: () => failed || sawDone || sawFinish });
}
