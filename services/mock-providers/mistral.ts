// Mistral's chat completions wire format (POST /mistral/v1/chat/completions), checked the way the real
// API checks it: a bearer key, no field it does not know (422 `extra_forbidden` in FastAPI's
// `{"detail":[...]}`), tool call ids of exactly 9 letters and digits. Answers carry Mistral's usage
// (also on the finishing stream chunk, unasked), whole tool calls in one delta, errors as
// `{"object":"error",...}` (mid-stream too) and the `ratelimitbysize` headers.
import type { ServerResponse } from 'node:http';
import { afterToolResults, countPromptTokens, replyTokens, writeTokens, type MockScript } from './script.ts';
import { lastUserText, messageTexts } from './openai.ts';
import type { SimulatorModule, SimulatorRequest } from './modules.ts';

const REQUEST_FIELDS = new Set([
  'model',
  'messages',
  'temperature',
  'top_p',
  'max_tokens',
  'stream',
  'stop',
  'random_seed',
  'metadata',
  'response_format',
  'tools',
  'tool_choice',
  'presence_penalty',
  'frequency_penalty',
  'n',
  'prediction',
  'parallel_tool_calls',
  'prompt_mode',
  'safe_prompt',
]);
const MESSAGE_FIELDS: Record<string, Set<string>> = {
  system: new Set(['role', 'content']),
  user: new Set(['role', 'content']),
  assistant: new Set(['role', 'content', 'tool_calls', 'prefix']),
  tool: new Set(['role', 'content', 'tool_call_id', 'name']),
};
const TOOL_CALL_ID = /^[A-Za-z0-9]{9}$/;

const RATE_HEADERS = {
  'ratelimitbysize-limit': '500000',
  'ratelimitbysize-remaining': '499000',
  'ratelimitbysize-reset': '1',
  'x-ratelimitbysize-limit-minute': '500000',
  'x-ratelimitbysize-remaining-minute': '499000',
  'x-ratelimitbysize-limit-month': '1000000000',
  'x-ratelimitbysize-remaining-month': '999000000',
};

interface MistralMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id?: string }>;
  tool_call_id?: string;
}

type Detail = { type: string; loc: Array<string | number>; msg: string; input: unknown };

function validate(body: Record<string, unknown>): Detail[] {
  const out: Detail[] = [];
  for (const key of Object.keys(body)) {
    if (!REQUEST_FIELDS.has(key))
      out.push({ type: 'extra_forbidden', loc: ['body', key], msg: 'Extra inputs are not permitted', input: body[key] });
  }
  const messages = Array.isArray(body.messages) ? (body.messages as MistralMessage[]) : [];
  if (!messages.length) out.push({ type: 'missing', loc: ['body', 'messages'], msg: 'Field required', input: body });
  messages.forEach((m, i) => {
    const allowed = MESSAGE_FIELDS[m.role];
    if (!allowed) {
      out.push({
        type: 'union_tag_invalid',
        loc: ['body', 'messages', i],
        msg: `Input tag '${m.role}' found using 'role' does not match any of the expected tags: 'system', 'user', 'assistant', 'tool'`,
        input: m,
      });
      return;
    }
    for (const key of Object.keys(m)) {
      if (!allowed.has(key))
        out.push({
          type: 'extra_forbidden',
          loc: ['body', 'messages', i, m.role, key],
          msg: 'Extra inputs are not permitted',
          input: (m as unknown as Record<string, unknown>)[key],
        });
    }
    const ids = m.role === 'tool' ? [m.tool_call_id] : (m.tool_calls ?? []).map((t) => t.id);
    for (const id of ids) {
      if (id !== undefined && !TOOL_CALL_ID.test(id))
        out.push({
          type: 'value_error',
          loc: ['body', 'messages', i, m.role],
          msg: `Value error, Tool call id was ${id} but must be a-z, A-Z, 0-9, with a length of 9.`,
          input: m,
        });
    }
  });
  return out;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers });
  res.end(payload);
}

function errorBody(e: NonNullable<MockScript['error']>): Record<string, unknown> {
  return {
    object: 'error',
    message: e.message ?? `simulated error ${e.status}`,
    type: e.type ?? (e.status >= 500 ? 'internal_server_error' : 'invalid_request_error'),
    param: null,
    code: e.code ?? String(e.status),
  };
}

function sendError(res: ServerResponse, e: NonNullable<MockScript['error']>): void {
  const headers: Record<string, string> = { ...RATE_HEADERS };
  if (e.retry_after !== undefined) headers['retry-after'] = String(e.retry_after);
  if (e.status === 429) {
    // Mistral's gateway answers a rate limit itself, with its own flat body.
    headers['x-ratelimitbysize-remaining-minute'] = '0';
    return json(res, 429, { message: e.message ?? 'Requests rate limit exceeded', request_id: 'mock-request' }, headers);
  }
  json(res, e.status, errorBody(e), headers);
}

async function chat(r: SimulatorRequest): Promise<void> {
  const { ctx, req, res, body } = r;
  ctx.count('mistral.chat');
  if (!req.headers.authorization) return json(res, 401, { message: 'Unauthorized', request_id: 'mock-request' });
  const invalid = validate(body);
  if (invalid.length) return json(res, 422, { detail: invalid });
  const messages = body.messages as MistralMessage[];
  const stream = body.stream === true;
  const scripted = r.scriptFor(lastUserText(messages as Parameters<typeof lastUserText>[0]));
  if (r.failsNow(scripted, stream)) return sendError(res, scripted.error!);
  const base = r.withoutMidstream(scripted, stream);
  const toolResults: string[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]!.role === 'tool'; i--)
    toolResults.unshift(messageTexts([messages[i]!] as Parameters<typeof messageTexts>[0]).join(''));
  const script = toolResults.length ? afterToolResults(base, toolResults) : base;

  const n = ctx.nextId();
  const id = `mock${n.toString(16).padStart(28, '0')}`;
  const created = Math.floor(Date.now() / 1000);
  const model = String(body.model ?? 'mistral-mock');
  const tokens = script.tool_calls?.length && script.text === undefined ? [] : replyTokens(script);
  const toolCalls = (script.tool_calls ?? []).map((t, i) => ({
    id: `${String(n).padStart(4, '0').slice(-4)}mck${i}${String.fromCharCode(97 + (i % 26))}`,
    type: 'function',
    function: { name: t.name, arguments: JSON.stringify(t.arguments) },
    index: i,
  }));
  const promptTokens = countPromptTokens(messageTexts(messages as Parameters<typeof messageTexts>[0]));
  const completionTokens = tokens.length + toolCalls.length * 8;
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const finish = script.finish_reason ?? (toolCalls.length ? 'tool_calls' : 'stop');

  if (script.ttft_ms > 0) await ctx.sleep(script.ttft_ms, res);
  if (res.destroyed) return;

  if (!stream) {
    if (script.drop_after !== undefined) return void req.socket.destroy();
    const message: Record<string, unknown> = {
      role: 'assistant',
      content: tokens.join(''),
      tool_calls: toolCalls.length ? toolCalls : null,
      prefix: false,
    };
    return json(
      res,
      200,
      { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, finish_reason: finish }], usage },
      RATE_HEADERS,
    );
  }

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...RATE_HEADERS });
  const frame = (delta: Record<string, unknown>, finishReason: string | null = null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra })}\n\n`;
  res.write(frame({ role: 'assistant', content: '' }));
  const outcome = await writeTokens(ctx, res, script, tokens, (tok) => res.write(frame({ content: tok })));
  if (outcome === 'dropped') return;
  if (outcome === 'failed') {
    // HTTP is already 200: the error body travels as an event, and no [DONE] follows.
    res.end(`data: ${JSON.stringify(errorBody(script.error!))}\n\n`);
    return;
  }
  // Mistral sends all tool calls whole in one delta, then usage on the finishing chunk, asked or not.
  if (toolCalls.length) res.write(frame({ content: '', tool_calls: toolCalls }));
  res.write(frame({ content: '' }, finish, { usage }));
  res.end('data: [DONE]\n\n');
}

export const mistralSimulator: SimulatorModule = {
  provider: 'mistral',
  async handle(r) {
    if (r.path !== '/chat/completions') return false;
    await chat(r);
    return true;
  },
};
