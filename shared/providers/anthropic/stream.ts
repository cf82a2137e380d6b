// Anthropic Messages SSE (`event: <name>` + `data: <json>`) -> normalized stream parts.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { z } from 'zod';
import type { Usage } from '../../protocol/events.ts';
import type { StreamPart, StreamTranslator } from '../types.ts';
import { malformedStream } from '../common/stream-errors.ts';
import { translatorFrame } from '../common/translator-frame.ts';
import { anthropicUsageSchema, convertAnthropicUsage, type AnthropicUsage } from './usage.ts';
import { mapAnthropicStopReason, refusalText } from './finish-reason.ts';
import { anthropicErrorFromBody } from './errors.ts';
import { JSON_MODE_TOOL } from './build-request.ts';

const eventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message_start'), message: z.object({ usage: anthropicUsageSchema.optional() }).loose() }).loose(),
  z
    .object({
      type: z.literal('content_block_start'),
      index: z.number(),
      content_block: z
        .object({
          type: z.string(),
          text: z.string().optional(),
          thinking: z.string().optional(),
          id: z.string().optional(),
          name: z.string().optional(),
        })
        .loose(),
    })
    .loose(),
  z
    .object({
      type: z.literal('content_block_delta'),
      index: z.number(),
      delta: z
        .object({ type: z.string(), text: z.string().optional(), thinking: z.string().optional(), partial_json: z.string().optional() })
        .loose(),
    })
    .loose(),
  z.object({ type: z.literal('content_block_stop'), index: z.number() }).loose(),
  z
    .object({
      type: z.literal('message_delta'),
      delta: z
        .object({
          stop_reason: z.string().nullable().optional(),
          stop_details: z.object({ explanation: z.string().nullable().optional() }).loose().nullable().optional(),
        })
        .loose(),
      usage: anthropicUsageSchema.nullable().optional(),
    })
    .loose(),
  z.object({ type: z.literal('message_stop') }).loose(),
  z.object({ type: z.literal('ping') }).loose(),
  z.object({ type: z.literal('error'), error: z.unknown() }).loose(),
]);

const KNOWN_EVENTS = new Set([
  'message_start',
  'content_block_start',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
  'ping',
]);

interface Block {
  kind: 'text' | 'thinking' | 'tool' | 'json' | 'other';
  toolIndex?: number;
  sentArgs?: boolean;
}

export function createAnthropicStreamTranslator(): StreamTranslator {
  const out: StreamPart[] = [];
  const blocks = new Map<number, Block>();
  let tools = 0;
  let usage: AnthropicUsage = {};
  let stopReason: string | null = null;
  let jsonMode = false;
  let done = false;
  let failed = false;

  const fail = (part: StreamPart) => {
    out.push(part);
    failed = true;
  };

  const onEvent = (ev: EventSourceMessage) => {
    if (failed || done) return;
    let json: unknown;
    try {
      json = JSON.parse(ev.data);
    } catch {
      return fail(malformedStream(ev.data));
    }
    if (ev.event === 'error' || (json as { type?: unknown })?.type === 'error') {
      // HTTP was 200, so the error's own type decides the status (overloaded_error -> 503).
      return fail({ type: 'error', error: anthropicErrorFromBody(json, undefined) });
    }
    // Event types added after this was written are skipped, as Anthropic's versioning policy allows.
    if (!KNOWN_EVENTS.has(String((json as { type?: unknown })?.type))) return;
    const parsed = eventSchema.safeParse(json);
    if (!parsed.success) return fail(malformedStream(ev.data, parsed.error.issues[0]?.message));
    const e = parsed.data;
    switch (e.type) {
      case 'message_start':
        usage = { ...usage, ...stripNulls(e.message.usage) };
        break;
      case 'content_block_start': {
        const cb = e.content_block;
        if (cb.type === 'text') {
          blocks.set(e.index, { kind: 'text' });
          if (cb.text) out.push({ type: 'delta', delta: { content: cb.text } });
        } else if (cb.type === 'thinking') {
          blocks.set(e.index, { kind: 'thinking' });
          if (cb.thinking) out.push({ type: 'delta', delta: { reasoning_content: cb.thinking } });
        } else if (cb.type === 'tool_use' && cb.name === JSON_MODE_TOOL) {
          jsonMode = true;
          blocks.set(e.index, { kind: 'json', sentArgs: false });
        } else if (cb.type === 'tool_use') {
          const toolIndex = tools++;
          blocks.set(e.index, { kind: 'tool', toolIndex, sentArgs: false });
          out.push({
            type: 'delta',
            delta: { tool_calls: [{ index: toolIndex, id: cb.id!, type: 'function', function: { name: cb.name!, arguments: '' } }] },
          });
        } else blocks.set(e.index, { kind: 'other' });
        break;
      }
      case 'content_block_delta': {
        const block = blocks.get(e.index);
        const d = e.delta;
        if (d.type === 'text_delta' && d.text) out.push({ type: 'delta', delta: { content: d.text } });
        else if (d.type === 'thinking_delta' && d.thinking) out.push({ type: 'delta', delta: { reasoning_content: d.thinking } });
        else if (d.type === 'input_json_delta' && d.partial_json && block) {
          block.sentArgs = true;
          if (block.kind === 'json') out.push({ type: 'delta', delta: { content: d.partial_json } });
          else if (block.kind === 'tool')
            out.push({ type: 'delta', delta: { tool_calls: [{ index: block.toolIndex!, function: { arguments: d.partial_json } }] } });
        }
        // signature_delta and citations_delta have no OpenAI counterpart.
        break;
      }
      case 'content_block_stop': {
        const block = blocks.get(e.index);
        // A tool called without arguments streams only `""`: the client still needs valid JSON.
        if (block?.kind === 'tool' && !block.sentArgs)
          out.push({ type: 'delta', delta: { tool_calls: [{ index: block.toolIndex!, function: { arguments: '{}' } }] } });
        if (block?.kind === 'json' && !block.sentArgs) out.push({ type: 'delta', delta: { content: '{}' } });
        break;
      }
      case 'message_delta':
        if (e.delta.stop_reason) stopReason = e.delta.stop_reason;
        if (e.delta.stop_reason === 'refusal')
          out.push({ type: 'delta', delta: { refusal: refusalText(e.delta.stop_details?.explanation) } });
        // Cumulative counts: later values replace earlier ones.
        usage = { ...usage, ...stripNulls(e.usage ?? undefined) };
        break;
      case 'message_stop':
        done = true;
        out.push({ type: 'finish', finish_reason: jsonMode && stopReason === 'tool_use' ? 'stop' : mapAnthropicStopReason(stopReason) });
        out.push({ type: 'usage', usage: convertAnthropicUsage(usage) satisfies Usage });
        break;
      default:
        break;
    }
  };
  const parser = createParser({ onEvent });
  return translatorFrame(out, { feed: (text) => parser.feed(text), settled: () => failed || done });
}

function stripNulls(u: AnthropicUsage | undefined): AnthropicUsage {
  const out: AnthropicUsage = {};
  for (const [k, v] of Object.entries(u ?? {})) if (v !== null && v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
