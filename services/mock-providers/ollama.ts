// Ollama native simulator: /api/chat (NDJSON stream, `done:true` line with counts and done_reason,
// tool calls whole with object arguments and no ids, `thinking` when `think` is on, `{"error":...}`
// as last line on failure) and /api/embed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterToolResults, countPromptTokens, lastTextWith, replyTokens, writeTokens, type MockScript } from './script.ts';
import type { MockContext } from './server.ts';
import { embed } from './openai.ts';

export interface OllamaBody {
  model?: string;
  stream?: boolean;
  think?: boolean | string;
  messages?: Array<{
    role: string;
    content?: string;
    images?: string[];
    tool_calls?: Array<{ function: { name: string; arguments: unknown } }>;
  }>;
  input?: string | string[];
  dimensions?: number;
}

export function sendOllamaError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ error: message }));
}

export function ollamaScriptText(body: OllamaBody): string | undefined {
  return lastTextWith((body.messages ?? []).filter((m) => m.role === 'user').map((m) => m.content || undefined));
}

export function validateOllama(body: OllamaBody): string | null {
  if (!body.model) return 'model is required';
  for (const m of body.messages ?? []) {
    for (const t of m.tool_calls ?? [])
      if (typeof t.function.arguments !== 'object' || t.function.arguments === null)
        return 'json: cannot unmarshal string into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments';
    for (const img of m.images ?? []) if (img.startsWith('data:') || img.startsWith('http')) return 'illegal base64 data at input byte 4';
  }
  return null;
}

export async function handleOllamaChat(
  ctx: MockContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: OllamaBody,
  baseScript: MockScript,
): Promise<void> {
  const msgs = body.messages ?? [];
  const trailingTools: string[] = [];
  for (let i = msgs.length - 1; i >= 0 && msgs[i]!.role === 'tool'; i--) trailingTools.unshift(msgs[i]!.content ?? '');
  const script = trailingTools.length ? afterToolResults(baseScript, trailingTools) : baseScript;
  const model = body.model!;
  const promptTokens = countPromptTokens(msgs.map((m) => m.content ?? '').filter(Boolean));
  const tokens = replyTokens(script);
  const thinking = body.think ? script.reasoning : undefined;
  const calls = (script.tool_calls ?? []).map((t) => ({ function: { name: t.name, arguments: t.arguments } }));
  const text = calls.length && script.text === undefined ? '' : tokens.join('');
  const evalCount = tokens.length + (thinking ? countPromptTokens([thinking]) : 0) + calls.length * 8;
  const doneReason = script.finish_reason ?? 'stop';
  const createdAt = () => new Date().toISOString();
  const final = (message: Record<string, unknown>) => ({
    model,
    created_at: createdAt(),
    message,
    done_reason: doneReason,
    done: true,
    total_duration: 1_000_000,
    load_duration: 10_000,
    prompt_eval_count: promptTokens,
    prompt_eval_duration: 100_000,
    eval_count: evalCount,
    eval_duration: 800_000,
  });

  if (script.ttft_ms > 0) await ctx.sleep(script.ttft_ms, res);
  if (res.destroyed) return;

  if (body.stream === false) {
    if (script.drop_after !== undefined) return void req.socket.destroy();
    const message: Record<string, unknown> = { role: 'assistant', content: text };
    if (thinking) message.thinking = thinking;
    if (calls.length) message.tool_calls = calls;
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    return void res.end(JSON.stringify(final(message)));
  }

  // Ollama streams unless told otherwise.
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const line = (obj: unknown) => res.write(`${JSON.stringify(obj)}\n`);
  if (thinking) line({ model, created_at: createdAt(), message: { role: 'assistant', content: '', thinking }, done: false });
  const outcome = await writeTokens(ctx, res, script, text ? tokens : [], (tok) =>
    line({ model, created_at: createdAt(), message: { role: 'assistant', content: tok }, done: false }),
  );
  if (outcome === 'dropped') return;
  if (outcome === 'failed') {
    line({ error: script.error!.message ?? 'an error was encountered while running the model' });
    return void res.end();
  }
  if (calls.length) line({ model, created_at: createdAt(), message: { role: 'assistant', content: '', tool_calls: calls }, done: false });
  line(final({ role: 'assistant', content: '' }));
  res.end();
}

export function handleOllamaEmbed(res: ServerResponse, body: OllamaBody): void {
  const inputs = typeof body.input === 'string' ? [body.input] : (body.input ?? []);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(
    JSON.stringify({
      model: body.model,
      embeddings: inputs.map((t) => embed(t, body.dimensions ?? 8)),
      total_duration: 14_143_917,
      load_duration: 1_019_500,
      prompt_eval_count: countPromptTokens(inputs),
    }),
  );
}
