// OpenAI Chat Completions / Embeddings simulator: JSON bodies, SSE framing with `data: [DONE]`,
// usage only when `stream_options.include_usage`, OpenAI error envelope and rate-limit headers.
// The `groq` and `xai` dialects add what those OpenAI-compatible APIs do differently: Groq's
// `x_groq` usage on the last chunk, `reasoning` field, `event: error` mid-stream and per-day/minute
// rate headers; xAI's flat error body, chunks without logprobs/finish_reason:null, and
// completion_tokens that leave reasoning out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { afterToolResults, countPromptTokens, replyTokens, writeTokens, type MockScript } from './script.ts';
import type { MockContext } from './server.ts';

export type OpenAIDialect = 'openai' | 'groq' | 'xai';

interface OpenAIChatBody {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages?: Array<{ role: string; content?: unknown }>;
}

export function messageTexts(messages: OpenAIChatBody['messages']): string[] {
  const out: string[] = [];
  for (const m of messages ?? []) {
    if (typeof m.content === 'string') out.push(m.content);
    else if (Array.isArray(m.content)) for (const p of m.content) if (p && typeof p.text === 'string') out.push(p.text);
  }
  return out;
}

export function lastUserText(messages: OpenAIChatBody['messages']): string | undefined {
  const users = (messages ?? []).filter((m) => m.role === 'user');
  const last = users[users.length - 1];
  return last ? messageTexts([last]).join('\n') : undefined;
}

const RATE_HEADERS = {
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
  'x-ratelimit-limit-tokens': '30000000',
  'x-ratelimit-remaining-tokens': '29999000',
  'x-ratelimit-reset-tokens': '2ms',
};

// Groq: limit-requests per day, limit-tokens per minute, Go-style durations.
const GROQ_RATE_HEADERS = {
  'x-ratelimit-limit-requests': '14400',
  'x-ratelimit-remaining-requests': '14399',
  'x-ratelimit-reset-requests': '6s',
  'x-ratelimit-limit-tokens': '6000',
  'x-ratelimit-remaining-tokens': '5900',
  'x-ratelimit-reset-tokens': '1m26.4s',
  'x-groq-region': 'mock-1',
};

const XAI_CODES: Record<number, string> = {
  400: 'Client specified an invalid argument',
  401: 'The request does not have valid authentication credentials for the operation',
  403: 'The caller does not have permission to execute the specified operation',
  404: 'Some requested entity was not found',
  429: 'Some resource has been exhausted',
  500: 'Internal error',
  503: 'The service is currently unavailable',
};

function errorPayload(e: NonNullable<MockScript['error']>, dialect: OpenAIDialect): Record<string, unknown> {
  const message = e.message ?? `simulated error ${e.status}`;
  if (dialect === 'xai') return { code: XAI_CODES[e.status] ?? 'Unknown error', error: message };
  const type =
    e.type ??
    (e.status === 429
      ? dialect === 'groq'
        ? 'tokens'
        : 'rate_limit_exceeded'
      : e.status >= 500
        ? 'server_error'
        : 'invalid_request_error');
  return { error: { message, type, param: null, code: e.code ?? (e.status === 429 ? 'rate_limit_exceeded' : null) } };
}

export function sendOpenAIError(res: ServerResponse, script: MockScript, dialect: OpenAIDialect = 'openai'): void {
  const e = script.error!;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(dialect === 'openai' ? RATE_HEADERS : dialect === 'groq' ? GROQ_RATE_HEADERS : {}),
  };
  // Groq sends retry-after only on 429.
  if (e.retry_after !== undefined && (dialect !== 'groq' || e.status === 429)) headers['retry-after'] = String(e.retry_after);
  if (e.retry_after_ms !== undefined && dialect === 'openai') headers['retry-after-ms'] = String(e.retry_after_ms);
  if (e.status === 429 && dialect !== 'xai') headers['x-ratelimit-remaining-requests'] = '0';
  res.writeHead(e.status, headers);
  res.end(JSON.stringify(errorPayload(e, dialect)));
}

function toolCallId(dialect: OpenAIDialect, idBase: string, i: number): string {
  if (dialect === 'groq') return `fc_${idBase.replace(/\D/g, '').padStart(8, '0')}-${i}`;
  if (dialect === 'xai') return `call_${idBase.replace(/\D/g, '')}${i}${Math.floor(Math.random() * 1e6)}`;
  return `call_${idBase.slice(0, 16)}${i}`;
}

function toolCallsOf(script: MockScript, idBase: string, dialect: OpenAIDialect) {
  return (script.tool_calls ?? []).map((t, i) => ({
    id: toolCallId(dialect, idBase, i),
    type: 'function' as const,
    function: { name: t.name, arguments: JSON.stringify(t.arguments) },
  }));
}

export async function handleOpenAIChat(
  ctx: MockContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: OpenAIChatBody,
  baseScript: MockScript,
  dialect: OpenAIDialect = 'openai',
): Promise<void> {
  const msgs = body.messages ?? [];
  const toolResults: string[] = [];
  for (let i = msgs.length - 1; i >= 0 && msgs[i]!.role === 'tool'; i--) toolResults.unshift(messageTexts([msgs[i]!]).join(''));
  // After the client ran the tools, answer in text that quotes the results.
  const script = toolResults.length ? afterToolResults(baseScript, toolResults) : baseScript;
  const id =
    dialect === 'openai'
      ? `chatcmpl-mock${ctx.nextId()}`
      : dialect === 'groq'
        ? `chatcmpl-mock-groq-${ctx.nextId()}`
        : `mock-xai-${ctx.nextId()}`;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model ?? 'mock-model';
  const promptTokens = countPromptTokens(messageTexts(body.messages));
  const tokens = replyTokens(script);
  const toolCalls = toolCallsOf(script, id, dialect);
  const reasoningTokens = script.reasoning ? countPromptTokens([script.reasoning]) : 0;
  const completionTokens = tokens.length + reasoningTokens + toolCalls.length * 8;
  const usage: Record<string, unknown> = {
    prompt_tokens: promptTokens,
    // xAI reports reasoning outside completion_tokens (but inside total_tokens).
    completion_tokens: dialect === 'xai' ? completionTokens - reasoningTokens : completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: script.cached_tokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  if (dialect === 'groq') Object.assign(usage, { queue_time: 0.01, prompt_time: 0.001, completion_time: 0.02, total_time: 0.021 });
  const finish = script.finish_reason ?? (toolCalls.length ? 'tool_calls' : 'stop');
  const reasoningField = dialect === 'groq' ? 'reasoning' : 'reasoning_content';
  const rateHeaders = dialect === 'openai' ? RATE_HEADERS : dialect === 'groq' ? GROQ_RATE_HEADERS : {};

  if (script.ttft_ms > 0) await ctx.sleep(script.ttft_ms, res);
  if (res.destroyed) return;

  if (!body.stream) {
    if (script.drop_after !== undefined) {
      req.socket.destroy();
      return;
    }
    const message: Record<string, unknown> = {
      role: 'assistant',
      content: toolCalls.length && !script.text ? null : tokens.join(''),
      refusal: null,
      annotations: [],
    };
    if (script.reasoning) message[reasoningField] = script.reasoning;
    if (toolCalls.length) message.tool_calls = toolCalls;
    const payload = JSON.stringify({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage,
      service_tier: dialect === 'groq' ? 'on_demand' : 'default',
      system_fingerprint: 'fp_mock',
      ...(dialect === 'groq' ? { x_groq: { id: `req_mock${ctx.nextId()}` } } : {}),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...rateHeaders });
    res.end(payload);
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...rateHeaders });
  const includeUsage = body.stream_options?.include_usage === true;
  // xAI leaves out logprobs and finish_reason:null; Groq never sends usage:null.
  const choice = (delta: Record<string, unknown>, finishReason: string | null = null) =>
    dialect === 'xai'
      ? { index: 0, delta, ...(finishReason ? { finish_reason: finishReason } : {}) }
      : { index: 0, delta, logprobs: null, finish_reason: finishReason };
  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, ...(dialect === 'openai' ? { service_tier: 'default' } : {}), system_fingerprint: 'fp_mock', choices, ...(includeUsage && dialect === 'openai' ? { usage: null } : {}), ...extra })}\n\n`;
  const first =
    dialect === 'xai' ? { role: 'assistant' } : { role: 'assistant', content: '', ...(dialect === 'openai' ? { refusal: null } : {}) };
  res.write(frame([choice(first)], dialect === 'groq' ? { x_groq: { id: `req_mock${ctx.nextId()}` } } : {}));
  if (script.reasoning) {
    res.write(frame([choice({ [reasoningField]: script.reasoning })]));
  }
  const outcome = await writeTokens(ctx, res, script, script.tool_calls?.length && script.text === undefined ? [] : tokens, (tok) =>
    res.write(frame([choice({ content: tok })])),
  );
  if (outcome === 'dropped') return;
  if (outcome === 'failed') {
    // HTTP is already 200: the failure travels in the stream, and no [DONE] follows.
    const payload = errorPayload(script.error!, dialect === 'xai' ? 'openai' : dialect);
    if (dialect === 'groq') (payload.error as Record<string, unknown>).status_code = script.error!.status;
    res.end(`${dialect === 'groq' ? 'event: error\n' : ''}data: ${JSON.stringify(payload)}\n\n`);
    return;
  }
  toolCalls.forEach((tc, index) => {
    if (dialect !== 'openai') {
      // Groq and xAI deliver each call whole in one delta.
      res.write(frame([choice({ tool_calls: [{ index, id: tc.id, type: 'function', function: tc.function }] })]));
      return;
    }
    // Like OpenAI: id and name first, then the arguments in fragments.
    res.write(
      frame([choice({ tool_calls: [{ index, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }] })]),
    );
    const args = tc.function.arguments;
    for (let i = 0; i < args.length; i += 8) {
      res.write(frame([choice({ tool_calls: [{ index, function: { arguments: args.slice(i, i + 8) } }] })]));
    }
  });
  if (dialect === 'groq') {
    // Groq puts usage on the finishing chunk, in x_groq and at the top level, asked or not.
    res.write(frame([choice({}, finish)], { x_groq: { id: `req_mock${ctx.nextId()}`, usage }, usage }));
  } else {
    res.write(frame([choice({}, finish)]));
    if (includeUsage) res.write(frame([], { usage }));
  }
  res.end('data: [DONE]\n\n');
}

export function handleOpenAIEmbeddings(
  ctx: MockContext,
  res: ServerResponse,
  body: { model?: string; input?: unknown; dimensions?: number; encoding_format?: string },
): void {
  const inputs =
    typeof body.input === 'string'
      ? [body.input]
      : Array.isArray(body.input)
        ? body.input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)))
        : [''];
  const dims = body.dimensions ?? 8;
  // Like OpenAI: base64 is little-endian float32 (the official SDK asks for it by default).
  const encode = (v: number[]) => (body.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v);
  const data = inputs.map((text, index) => ({ object: 'embedding', index, embedding: encode(embed(text, dims)) }));
  const promptTokens = countPromptTokens(inputs);
  ctx.count('embeddings');
  const payload = JSON.stringify({
    object: 'list',
    data,
    model: body.model ?? 'mock-embedding',
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
  res.writeHead(200, { 'content-type': 'application/json', ...RATE_HEADERS });
  res.end(payload);
}

/** A deterministic unit vector per text. */
export function embed(text: string, dims: number): number[] {
  const out: number[] = [];
  let block = createHash('sha256').update(text).digest();
  for (let i = 0; i < dims; i++) {
    if (i % 32 === 0 && i > 0) block = createHash('sha256').update(block).digest();
    out.push((block[i % 32]! - 127.5) / 127.5);
  }
  const norm = Math.hypot(...out) || 1;
  return out.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}
