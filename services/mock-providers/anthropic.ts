// Anthropic Messages simulator: validates what the real API rejects (auth and version headers,
// max_tokens, alternating roles, tool_result ids), answers with content blocks, streams SSE with
// `event:` names and padded `data:` lines, and fails with Anthropic's error envelope and headers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterToolResults, countPromptTokens, lastTextWith, replyTokens, writeTokens, type MockScript } from './script.ts';
import type { MockContext } from './server.ts';

interface Block {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  tool_use_id?: string;
  content?: unknown;
}
export interface AnthropicBody {
  model?: string;
  max_tokens?: number;
  stream?: boolean;
  system?: string | Array<{ text: string }>;
  messages?: Array<{ role: string; content: string | Block[] }>;
  thinking?: { type?: string; budget_tokens?: number };
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function rateHeaders(): Record<string, string> {
  const reset = new Date(Date.now() + 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const h: Record<string, string> = {};
  for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
    h[`anthropic-ratelimit-${kind}-limit`] = '4000';
    h[`anthropic-ratelimit-${kind}-remaining`] = '3999';
    h[`anthropic-ratelimit-${kind}-reset`] = reset;
  }
  return h;
}

function blocksOf(content: string | Block[] | undefined): Block[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : (content ?? []);
}

export function anthropicScriptText(body: AnthropicBody): string | undefined {
  const users = (body.messages ?? []).filter((m) => m.role === 'user');
  return lastTextWith(
    users.map(
      (m) =>
        blocksOf(m.content)
          .filter((b) => b.type === 'text')
          .map((b) => b.text)
          .join('\n') || undefined,
    ),
  );
}

export function sendAnthropicError(
  res: ServerResponse,
  status: number,
  message: string,
  extra: { retry_after?: number; type?: string } = {},
): void {
  const requestId = `req_mock${Math.random().toString(36).slice(2, 12)}`;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': requestId, ...rateHeaders() };
  if (extra.retry_after !== undefined) headers['retry-after'] = String(extra.retry_after);
  res.writeHead(status, headers);
  res.end(
    JSON.stringify({ type: 'error', error: { type: extra.type ?? ERROR_TYPES[status] ?? 'api_error', message }, request_id: requestId }),
  );
}

/** What the real API refuses, so a translation mistake fails here as it would upstream. */
export function validateAnthropic(req: IncomingMessage, body: AnthropicBody): string | null {
  if (!req.headers['anthropic-version']) return 'anthropic-version: header is required';
  if (typeof body.max_tokens !== 'number') return 'max_tokens: Field required';
  const msgs = body.messages ?? [];
  if (!msgs.length) return 'messages: at least one message is required';
  if (body.thinking?.type === 'enabled' && !((body.thinking.budget_tokens ?? 0) < body.max_tokens))
    return '`max_tokens` must be greater than `thinking.budget_tokens`';
  let toolUseIds = new Set<string>();
  for (const [i, m] of msgs.entries()) {
    if (m.role !== 'user' && m.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (i > 0 && msgs[i - 1]!.role === m.role) return 'messages: roles must alternate between "user" and "assistant"';
    const blocks = blocksOf(m.content);
    if (blocks.some((b) => b.type === 'text' && !b.text)) return `messages.${i}: text content blocks must be non-empty`;
    for (const b of blocks) {
      if (b.type === 'tool_result' && !toolUseIds.has(b.tool_use_id ?? ''))
        return `messages.${i}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}`;
    }
    toolUseIds = new Set(blocks.filter((b) => b.type === 'tool_use').map((b) => b.id!));
  }
  return null;
}

/** `POST /v1/messages/count_tokens`: the same count the simulator reports as input_tokens. */
export function handleAnthropicCountTokens(res: ServerResponse, body: AnthropicBody): void {
  if (!body.model) return sendAnthropicError(res, 400, 'model: Field required');
  if (!body.messages?.length) return sendAnthropicError(res, 400, 'messages: at least one message is required');
  res.writeHead(200, { 'content-type': 'application/json', ...rateHeaders() });
  res.end(JSON.stringify({ input_tokens: countPromptTokens(promptTextsOf(body).filter(Boolean)) }));
}

function promptTextsOf(body: AnthropicBody): string[] {
  const system = typeof body.system === 'string' ? body.system : (body.system ?? []).map((s) => s.text).join('\n');
  return [
    system,
    ...(body.messages ?? []).flatMap((m) => blocksOf(m.content).map((b) => b.text ?? (b.content ? JSON.stringify(b.content) : ''))),
  ];
}

export async function handleAnthropicMessages(
  ctx: MockContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: AnthropicBody,
  baseScript: MockScript,
): Promise<void> {
  const msgs = body.messages ?? [];
  const lastBlocks = blocksOf(msgs.at(-1)?.content);
  const results = lastBlocks
    .filter((b) => b.type === 'tool_result')
    .map((b) => (typeof b.content === 'string' ? b.content : JSON.stringify(b.content)));
  const script = results.length ? afterToolResults(baseScript, results) : baseScript;
  const id = `msg_mock${ctx.nextId()}`;
  const model = body.model ?? 'claude-mock';
  const promptTexts = promptTextsOf(body);
  // Anthropic's input_tokens leaves out what was read from the cache.
  const cacheRead = script.cached_tokens ?? 0;
  const inputTokens = countPromptTokens(promptTexts.filter(Boolean)) - cacheRead;
  const tokens = replyTokens(script);
  const thinking = body.thinking?.type === 'enabled' ? script.reasoning : undefined;
  const tools = (script.tool_calls ?? []).map((t, i) => ({
    type: 'tool_use',
    id: `toolu_mock${ctx.nextId()}x${i}`,
    name: t.name,
    input: t.arguments,
  }));
  const text = tools.length && script.text === undefined ? '' : tokens.join('');
  const outputTokens = tokens.length + (thinking ? countPromptTokens([thinking]) : 0) + tools.length * 8;
  const stop = script.finish_reason ?? (tools.length ? 'tool_use' : 'end_turn');
  const signature = Buffer.from(`mock-signature-${id}`).toString('base64');

  if (script.ttft_ms > 0) await ctx.sleep(script.ttft_ms, res);
  if (res.destroyed) return;

  if (!body.stream) {
    if (script.drop_after !== undefined) return void req.socket.destroy();
    const content: unknown[] = [];
    if (thinking) content.push({ type: 'thinking', thinking, signature });
    if (text) content.push({ type: 'text', text });
    content.push(...tools);
    const payload = JSON.stringify({
      model,
      id,
      type: 'message',
      role: 'assistant',
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage: {
        input_tokens: inputTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cacheRead,
        output_tokens: outputTokens,
        service_tier: 'standard',
      },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_mock${ctx.nextId()}`, ...rateHeaders() });
    return void res.end(payload);
  }

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': `req_mock${ctx.nextId()}`,
    ...rateHeaders(),
  });
  // Anthropic pads some data lines with spaces; clients must not care.
  const send = (event: string, data: unknown, pad = '') => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}${pad}\n\n`);
  send('message_start', {
    type: 'message_start',
    message: {
      model,
      id,
      type: 'message',
      role: 'assistant',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: cacheRead, output_tokens: 1 },
    },
  });
  let index = 0;
  if (thinking) {
    send('content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
    send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking } });
    send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature } });
    send('content_block_stop', { type: 'content_block_stop', index }, '   ');
    index++;
  }
  send('ping', { type: 'ping' });
  if (text || !tools.length) {
    send('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }, '  ');
    const outcome = await writeTokens(ctx, res, script, text ? tokens : [], (tok) =>
      send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: tok } }, ' '),
    );
    if (outcome === 'dropped') return;
    if (outcome === 'failed') {
      const e = script.error!;
      send('error', {
        type: 'error',
        error: { type: ERROR_TYPES[e.status] ?? 'api_error', message: e.message ?? `simulated error ${e.status}` },
      });
      return void res.end();
    }
    send('content_block_stop', { type: 'content_block_stop', index });
    index++;
  }
  for (const tool of tools) {
    send('content_block_start', { type: 'content_block_start', index, content_block: { ...tool, input: {} } });
    // Like Anthropic: an empty fragment first, then the JSON in pieces; no pieces at all for `{}`.
    send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } });
    const json = Object.keys(tool.input).length ? JSON.stringify(tool.input) : '';
    for (let i = 0; i < json.length; i += 7)
      send('content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'input_json_delta', partial_json: json.slice(i, i + 7) },
      });
    send('content_block_stop', { type: 'content_block_stop', index });
    index++;
  }
  send('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: cacheRead, output_tokens: outputTokens },
  });
  send('message_stop', { type: 'message_stop' }, ' ');
  res.end();
}
