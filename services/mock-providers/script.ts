import type { ServerResponse } from 'node:http';
// What a simulated upstream should do for one request. Set per server (defaults), per request with
// `x-mock-*` headers, or from inside the prompt with a line `mock:{...json...}` in the last user
// message, which survives every gateway and provider translation on the way here.
export interface MockError {
  status: number;
  message?: string;
  type?: string;
  code?: string;
  /** seconds, sent as `retry-after` */
  retry_after?: number;
  retry_after_ms?: number;
  /** Streams only: answer 200, send this many tokens, then fail the way the provider does mid-stream. */
  after_tokens?: number;
}

export interface MockScript {
  /** Exact reply text; otherwise `tokens` words are generated. */
  text?: string;
  tokens: number;
  /** Generated words padded to this many characters: a large answer in few events. */
  word_chars?: number;
  /** Delay before the first byte of the answer. */
  ttft_ms: number;
  /** Delay between streamed tokens. */
  itl_ms: number;
  error?: MockError;
  /** Fail only the first `fail_times` requests carrying the same `fail_key`, then answer normally. */
  fail_times?: number;
  fail_key?: string;
  /** Destroy the connection after this many streamed tokens (non-streaming: before answering). */
  drop_after?: number;
  tool_calls?: Array<{ name: string; arguments: Record<string, unknown> }>;
  reasoning?: string;
  finish_reason?: string;
  /** Prompt tokens the provider reports as served from its cache (in each provider's own field). */
  cached_tokens?: number;
}

export const DEFAULT_SCRIPT: MockScript = { tokens: 16, ttft_ms: 0, itl_ms: 0 };

const DIRECTIVE = /(?:^|\n)mock:(\{.*\})\s*$/m;

export function scriptFromText(text: string | undefined): Partial<MockScript> {
  if (!text) return {};
  const m = DIRECTIVE.exec(text);
  if (!m) return {};
  try {
    return JSON.parse(m[1]!) as Partial<MockScript>;
  } catch {
    return {};
  }
}

export function scriptFromHeaders(headers: Record<string, string | string[] | undefined>): Partial<MockScript> {
  const out: Partial<MockScript> = {};
  const num = (name: string) => {
    const v = headers[name];
    return typeof v === 'string' && v !== '' ? Number(v) : undefined;
  };
  const tokens = num('x-mock-tokens');
  if (tokens !== undefined) out.tokens = tokens;
  const ttft = num('x-mock-ttft-ms');
  if (ttft !== undefined) out.ttft_ms = ttft;
  const itl = num('x-mock-itl-ms');
  if (itl !== undefined) out.itl_ms = itl;
  const status = num('x-mock-error-status');
  if (status !== undefined) out.error = { status };
  return out;
}

/** Deterministic pseudo-words so answers are checkable. */
export function replyTokens(script: MockScript): string[] {
  if (script.text !== undefined) return script.text.match(/\S+\s*|\s+/g) ?? [];
  const out: string[] = [];
  const pad = script.word_chars ?? 0;
  for (let i = 0; i < script.tokens; i++) out.push((i === 0 ? '' : ' ') + `tok${i}`.padEnd(pad, 'x'));
  return out;
}

/** Rough prompt token count: words and punctuation, stable for a given prompt. */
export function countPromptTokens(texts: string[]): number {
  let n = 0;
  for (const t of texts) n += (t.match(/\w+|[^\s\w]/g) ?? []).length;
  return Math.max(1, n);
}

/** Counts requests per fail_key so a script can fail the first N and then succeed (retry tests). */
export class FailCounter {
  private readonly seen = new Map<string, number>();
  shouldFail(script: MockScript): boolean {
    if (!script.error) return false;
    if (script.fail_times === undefined) return true;
    const key = script.fail_key ?? 'default';
    const n = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, n);
    return n <= script.fail_times;
  }
}

/** The directive of the last user turn that has text (tool-result turns carry none). */
export function lastTextWith(texts: Array<string | undefined>): string | undefined {
  for (let i = texts.length - 1; i >= 0; i--) if (texts[i]) return texts[i];
  return undefined;
}

/** After the client ran the tools: answer in text, quoting the results so tests can see they arrived. */
export function afterToolResults(script: MockScript, results: string[]): MockScript {
  return { ...script, tool_calls: undefined, text: `tool results: ${results.join(' | ')}` };
}

export type TokenOutcome = 'done' | 'dropped' | 'failed';

/**
 * Writes the reply tokens with the scripted latency. Stops early to simulate a dropped connection
 * (`drop_after`) or a mid-stream failure (`error.after_tokens`, reported as 'failed' for the caller to
 * frame in its provider's way).
 */
export async function writeTokens(
  ctx: { sleep(ms: number, res: ServerResponse): Promise<void> },
  res: ServerResponse,
  script: MockScript,
  tokens: string[],
  write: (token: string, index: number) => void,
): Promise<TokenOutcome> {
  const failAt = script.error?.after_tokens;
  for (let i = 0; i <= tokens.length; i++) {
    if (failAt !== undefined && i >= failAt) return 'failed';
    if (i === tokens.length) break;
    if (i > 0 && script.itl_ms > 0) await ctx.sleep(script.itl_ms, res);
    if (script.drop_after !== undefined && i >= script.drop_after) {
      // Let what was written reach the wire first (destroy discards unflushed writes).
      await new Promise<void>((r) => (res.writableNeedDrain ? res.once('drain', () => r()) : setImmediate(r)));
      res.destroy();
      return 'dropped';
    }
    if (res.destroyed) return 'dropped';
    write(tokens[i]!, i);
  }
  return 'done';
}
