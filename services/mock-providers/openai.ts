// OpenAI Chat Completions / Embeddings simulator: JSON bodies, SSE framing with `data: [DONE]`,
// usage only when `stream_options.include_usage`, OpenAI error envelope and rate-limit headers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { countPromptTokens, replyTokens, type MockScript } from './script.ts';
import type { MockContext } from './server.ts';

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

export function sendOpenAIError(res: ServerResponse, script: MockScript): void {
  const e = script.error!;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...RATE_HEADERS };
  if (e.retry_after !== undefined) headers['retry-after'] = String(e.retry_after);
  if (e.retry_after_ms !== undefined) headers['retry-after-ms'] = String(e.retry_after_ms);
  if (e.status === 429) headers['x-ratelimit-remaining-requests'] = '0';
  const type = e.type ?? (e.status === 429 ? 'rate_limit_exceeded' : e.status >= 500 ? 'server_error' : 'invalid_request_error');
  res.writeHead(e.status, headers);
  res.end(
    JSON.stringify({
      error: {
        message: e.message ?? `simulated error ${e.status}`,
        type,
        param: null,
        code: e.code ?? (e.status === 429 ? 'rate_limit_exceeded' : null),
      },
    }),
  );
}

function toolCallsOf(script: MockScript, idBase: string) {
  return (script.tool_calls ?? []).map((t, i) => ({
    id: `call_${idBase.slice(0, 16)}${i}`,
    type: 'function' as const,
    function: { name: t.name, arguments: JSON.stringify(t.arguments) },
  }));
}

export async function handleOpenAIChat(
  ctx: MockContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: OpenAIChatBody,
  script: MockScript,
): Promise<void> {
  const id = `chatcmpl-mock${ctx.nextId()}`;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model ?? 'mock-model';
  const promptTokens = countPromptTokens(messageTexts(body.messages));
  const tokens = replyTokens(script);
  const toolCalls = toolCallsOf(script, id);
  const reasoningTokens = script.reasoning ? countPromptTokens([script.reasoning]) : 0;
  const completionTokens = tokens.length + reasoningTokens + toolCalls.length * 8;
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  const finish = script.finish_reason ?? (toolCalls.length ? 'tool_calls' : 'stop');

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
    if (script.reasoning) message.reasoning_content = script.reasoning;
    if (toolCalls.length) message.tool_calls = toolCalls;
    const payload = JSON.stringify({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage,
      service_tier: 'default',
      system_fingerprint: 'fp_mock',
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...RATE_HEADERS });
    res.end(payload);
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...RATE_HEADERS });
  const includeUsage = body.stream_options?.include_usage === true;
  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_mock', choices, ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`;
  res.write(frame([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]));
  if (script.reasoning) {
    res.write(frame([{ index: 0, delta: { reasoning_content: script.reasoning }, logprobs: null, finish_reason: null }]));
  }
  let sent = 0;
  for (const tok of script.tool_calls?.length && script.text === undefined ? [] : tokens) {
    if (script.drop_after !== undefined && sent >= script.drop_after) {
      res.destroy();
      return;
    }
    if (sent > 0 && script.itl_ms > 0) await ctx.sleep(script.itl_ms, res);
    if (res.destroyed) return;
    res.write(frame([{ index: 0, delta: { content: tok }, logprobs: null, finish_reason: null }]));
    sent++;
  }
  toolCalls.forEach((tc, index) => {
    // Like OpenAI: id and name first, then the arguments in fragments.
    res.write(
      frame([
        {
          index: 0,
          delta: { tool_calls: [{ index, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }] },
          logprobs: null,
          finish_reason: null,
        },
      ]),
    );
    const args = tc.function.arguments;
    for (let i = 0; i < args.length; i += 8) {
      res.write(
        frame([
          {
            index: 0,
            delta: { tool_calls: [{ index, function: { arguments: args.slice(i, i + 8) } }] },
            logprobs: null,
            finish_reason: null,
          },
        ]),
      );
    }
  });
  res.write(frame([{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]));
  if (includeUsage) res.write(frame([], { usage }));
  res.end('data: [DONE]\n\n');
}

export function handleOpenAIEmbeddings(
  ctx: MockContext,
  res: ServerResponse,
  body: { model?: string; input?: unknown; dimensions?: number },
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
