// What an OpenAI client must see for a recorded native answer, read straight off the recording with
// PROTOCOLS.md's tables (finish reasons §5, usage §6). Deliberately naive and separate from the
// adapters: it folds whole recordings instead of translating incrementally.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { Recording } from './replay.ts';

export interface Expected {
  content: string;
  reasoning: string;
  tools: Array<{ name: string; args: unknown }>;
  finish: string | null;
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    cached_tokens?: number;
    reasoning_tokens?: number;
  } | null;
  /** the stream ends in a mid-stream error */
  error: boolean;
}

const ANTHROPIC_FINISH: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};
const GEMINI_FILTER = ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY'];

function empty(): Expected {
  return { content: '', reasoning: '', tools: [], finish: null, usage: null, error: false };
}

function openaiUsage(u: any, xai: boolean): Expected['usage'] {
  if (!u) return null;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  let completion = u.completion_tokens ?? 0;
  // xAI leaves reasoning out of completion_tokens but not out of total_tokens.
  if (xai && reasoning && u.total_tokens === u.prompt_tokens + completion + reasoning) completion += reasoning;
  const out: Expected['usage'] = {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: completion,
    total_tokens: u.total_tokens ?? u.prompt_tokens + completion,
  };
  if (u.prompt_tokens_details?.cached_tokens !== undefined) out.cached_tokens = u.prompt_tokens_details.cached_tokens;
  if (reasoning !== undefined) out.reasoning_tokens = reasoning;
  return out;
}

function anthropicUsage(u: any): Expected['usage'] {
  const prompt = (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
  const out: Expected['usage'] = {
    prompt_tokens: prompt,
    completion_tokens: u.output_tokens ?? 0,
    total_tokens: prompt + (u.output_tokens ?? 0),
  };
  if (u.cache_read_input_tokens !== undefined) out.cached_tokens = u.cache_read_input_tokens;
  return out;
}

function geminiUsage(u: any): Expected['usage'] {
  if (!u) return null;
  const prompt = (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0);
  const completion = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
  const out: Expected['usage'] = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: u.totalTokenCount ?? prompt + completion,
  };
  if (u.cachedContentTokenCount !== undefined) out.cached_tokens = u.cachedContentTokenCount;
  if (u.thoughtsTokenCount !== undefined) out.reasoning_tokens = u.thoughtsTokenCount;
  return out;
}

function geminiFinish(reason: string | undefined, tools: number): string | null {
  if (!reason) return null;
  if (reason === 'MAX_TOKENS') return 'length';
  if (GEMINI_FILTER.includes(reason)) return 'content_filter';
  return tools > 0 ? 'tool_calls' : 'stop';
}

function parseArgs(a: unknown): unknown {
  if (typeof a !== 'string') return a ?? {};
  return a.trim() === '' ? {} : JSON.parse(a);
}

/** Expected result of a non-streaming answer. */
export function expectedChat(rec: Recording, body: any): Expected {
  const e = empty();
  switch (rec.dialect) {
    case 'openai':
    case 'groq':
    case 'xai': {
      const m = body.choices[0].message;
      e.content = m.content ?? '';
      e.reasoning = m.reasoning_content ?? m.reasoning ?? '';
      e.tools = (m.tool_calls ?? []).map((t: any) => ({ name: t.function.name, args: parseArgs(t.function.arguments) }));
      e.finish = body.choices[0].finish_reason;
      e.usage = openaiUsage(body.usage, rec.dialect === 'xai');
      break;
    }
    case 'anthropic':
      for (const b of body.content) {
        if (b.type === 'text') e.content += b.text;
        if (b.type === 'thinking') e.reasoning += b.thinking;
        if (b.type === 'tool_use') e.tools.push({ name: b.name, args: b.input });
      }
      e.finish = ANTHROPIC_FINISH[body.stop_reason] ?? 'stop';
      e.usage = anthropicUsage(body.usage);
      break;
    case 'gemini': {
      for (const p of body.candidates?.[0]?.content?.parts ?? []) {
        if (p.functionCall) e.tools.push({ name: p.functionCall.name, args: p.functionCall.args ?? {} });
        else if (p.thought) e.reasoning += p.text;
        else if (p.text) e.content += p.text;
      }
      e.finish =
        geminiFinish(body.candidates?.[0]?.finishReason, e.tools.length) ?? (body.promptFeedback?.blockReason ? 'content_filter' : 'stop');
      e.usage = geminiUsage(body.usageMetadata);
      break;
    }
    case 'ollama': {
      e.content = body.message?.content ?? body.response ?? '';
      e.reasoning = body.message?.thinking ?? body.thinking ?? '';
      e.tools = (body.message?.tool_calls ?? []).map((t: any) => ({ name: t.function.name, args: parseArgs(t.function.arguments) }));
      e.finish = body.done_reason === 'length' ? 'length' : e.tools.length ? 'tool_calls' : 'stop';
      const p = body.prompt_eval_count ?? 0;
      const c = body.eval_count ?? 0;
      e.usage = { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
      break;
    }
  }
  return e;
}

/** Splits the wire text into the provider's stream events (payload JSON + event name). */
function events(rec: Recording, wire: string): Array<{ event?: string; data: any }> {
  if (rec.dialect === 'ollama')
    return wire
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => ({ data: JSON.parse(l) }));
  if (rec.dialect === 'gemini' && wire.trimStart().startsWith('[')) return (JSON.parse(wire) as any[]).map((d) => ({ data: d }));
  const out: Array<{ event?: string; data: any }> = [];
  for (const block of wire.split(/\r?\n\r?\n/)) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (!data.length || data.join('\n').trim() === '[DONE]') continue;
    out.push({ ...(event ? { event } : {}), data: JSON.parse(data.join('\n')) });
  }
  return out;
}

/** Expected result of a streamed answer, folded from all its events. */
export function expectedStream(rec: Recording, wire: string): Expected {
  const e = empty();
  const evs = events(rec, wire);
  let terminated = false;
  switch (rec.dialect) {
    case 'openai':
    case 'groq':
    case 'xai': {
      const calls: any[] = [];
      terminated = /data: \[DONE\]/.test(wire);
      for (const { event, data } of evs) {
        if (event === 'error' || (data.error && !data.choices)) {
          e.error = true;
          break;
        }
        for (const c of data.choices ?? []) {
          const d = c.delta ?? {};
          e.content += d.content ?? '';
          e.reasoning += d.reasoning_content ?? d.reasoning ?? '';
          for (const t of d.tool_calls ?? []) {
            calls[t.index] ??= { name: '', args: '' };
            calls[t.index].name += t.function?.name ?? '';
            calls[t.index].args += t.function?.arguments ?? '';
          }
          if (c.finish_reason) {
            e.finish = c.finish_reason;
            terminated = true;
          }
        }
        const u = data.usage ?? data.x_groq?.usage;
        if (u) e.usage = openaiUsage(u, rec.dialect === 'xai');
      }
      e.tools = calls.map((c) => ({ name: c.name, args: parseArgs(c.args) }));
      break;
    }
    case 'anthropic': {
      const blocks = new Map<number, { name: string; json: string }>();
      let usage: any = {};
      let stop: string | null = null;
      for (const { event, data } of evs) {
        if (event === 'error' || data.type === 'error') {
          e.error = true;
          break;
        }
        if (data.type === 'message_start') usage = { ...usage, ...data.message.usage };
        if (data.type === 'content_block_start' && data.content_block.type === 'tool_use')
          blocks.set(data.index, { name: data.content_block.name, json: '' });
        if (data.type === 'content_block_delta') {
          if (data.delta.type === 'text_delta') e.content += data.delta.text;
          if (data.delta.type === 'thinking_delta') e.reasoning += data.delta.thinking;
          if (data.delta.type === 'input_json_delta') blocks.get(data.index)!.json += data.delta.partial_json;
        }
        if (data.type === 'message_delta') {
          stop = data.delta.stop_reason ?? stop;
          for (const [k, v] of Object.entries(data.usage ?? {})) if (v !== null) usage[k] = v;
        }
        if (data.type === 'message_stop') terminated = true;
      }
      e.tools = [...blocks.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => ({ name: b.name, args: parseArgs(b.json) }));
      e.finish = stop ? (ANTHROPIC_FINISH[stop] ?? 'stop') : null;
      e.usage = anthropicUsage(usage);
      break;
    }
    case 'gemini': {
      let reason: string | undefined;
      let usage: any;
      let partial: { name: string; args: any } | null = null;
      for (const { data } of evs) {
        if (data.error) {
          e.error = true;
          break;
        }
        usage = data.usageMetadata ?? usage;
        const cand = data.candidates?.[0];
        for (const p of cand?.content?.parts ?? []) {
          const fc = p.functionCall;
          if (fc?.name) {
            if (partial) e.tools.push(partial);
            partial = null;
            if (fc.willContinue) partial = { name: fc.name, args: { ...(fc.args ?? {}) } };
            else e.tools.push({ name: fc.name, args: fc.args ?? {} });
          } else if (fc && partial) {
            for (const pa of fc.partialArgs ?? []) {
              const key = pa.jsonPath.replace(/^\$\./, ''); // the recordings use flat paths
              if (pa.stringValue !== undefined) partial.args[key] = (partial.args[key] ?? '') + pa.stringValue;
              else partial.args[key] = pa.numberValue ?? pa.boolValue ?? null;
            }
            if (!fc.willContinue) {
              e.tools.push(partial);
              partial = null;
            }
          } else if (p.thought) e.reasoning += p.text ?? '';
          else e.content += p.text ?? '';
        }
        if (cand?.finishReason) reason = cand.finishReason;
      }
      if (partial) e.tools.push(partial);
      e.finish = geminiFinish(reason, e.tools.length);
      terminated = reason !== undefined;
      e.usage = geminiUsage(usage);
      break;
    }
    case 'ollama': {
      for (const { data } of evs) {
        if (data.error !== undefined) {
          e.error = true;
          break;
        }
        e.content += data.message?.content ?? data.response ?? '';
        e.reasoning += data.message?.thinking ?? data.thinking ?? '';
        for (const t of data.message?.tool_calls ?? []) e.tools.push({ name: t.function.name, args: parseArgs(t.function.arguments) });
        if (data.done) {
          terminated = true;
          e.finish = data.done_reason === 'length' ? 'length' : e.tools.length ? 'tool_calls' : 'stop';
          if (data.prompt_eval_count !== undefined || data.eval_count !== undefined) {
            const p = data.prompt_eval_count ?? 0;
            const c = data.eval_count ?? 0;
            e.usage = { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
          } else e.usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
        }
      }
      break;
    }
  }
  // A stream that simply stops is an error too: the client must never mistake it for a full answer.
  if (!terminated) e.error = true;
  return e;
}

/** Message, status and retry hint an OpenAI client must get for a recorded error answer. */
export function expectedError(
  rec: Recording,
  body: any,
): { message: string; statuses: number[]; retryable: boolean; retryAfterMs?: number } {
  const status = rec.meta.status!;
  const message: string = typeof body.error === 'string' ? body.error : body.error?.message;
  let statuses = [status];
  if (status === 401 || status === 403) statuses = [502];
  if (status === 529 || status === 498) statuses = [503];
  // A rejected upstream key is ours, whatever status the provider uses for it (xAI: 400).
  if (/api key/i.test(message)) statuses = [502];
  const retryable = status === 429 || status >= 500;
  const out: ReturnType<typeof expectedError> = { message, statuses, retryable };
  const ra = rec.meta.headers['retry-after'];
  if (ra !== undefined) out.retryAfterMs = Number(ra) * 1000;
  const delay = body.error?.details?.find((d: any) => d.retryDelay)?.retryDelay;
  if (delay) out.retryAfterMs = Math.round(parseFloat(delay) * 1000);
  return out;
}
