// Gemini (Generative Language API v1beta) simulator: model in the URL path, `contents`/`parts`,
// `?alt=sse` streams framed `data: {...}\r\n\r\n` with usageMetadata on every chunk and no [DONE],
// function calls without ids, Gemini 3's thoughtSignature check, and Google's error envelope with
// RetryInfo in the body.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterToolResults, countPromptTokens, lastTextWith, replyTokens, writeTokens, type MockScript } from './script.ts';
import type { MockContext } from './server.ts';
import { embed } from './openai.ts';

interface Part {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  functionCall?: { name: string; args?: unknown };
  functionResponse?: { name: string; response?: unknown };
  inlineData?: { mimeType: string; data: string };
}
export interface GeminiBody {
  contents?: Array<{ role?: string; parts?: Part[] }>;
  systemInstruction?: { parts?: Part[] };
  generationConfig?: { thinkingConfig?: { includeThoughts?: boolean }; responseMimeType?: string };
  requests?: Array<{ model?: string; content?: { parts?: Part[] }; outputDimensionality?: number }>;
  content?: { parts?: Part[] };
  outputDimensionality?: number;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function geminiErrorBody(status: number, message: string, retryAfter?: number) {
  const details: unknown[] = [];
  if (status === 429)
    details.push({
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel' }],
    });
  if (retryAfter !== undefined) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfter}s` });
  return { error: { code: status, message, status: STATUS_TEXT[status] ?? 'UNKNOWN', ...(details.length ? { details } : {}) } };
}

export function sendGeminiError(res: ServerResponse, status: number, message: string, retryAfter?: number): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(geminiErrorBody(status, message, retryAfter)));
}

export function geminiScriptText(body: GeminiBody): string | undefined {
  const users = (body.contents ?? []).filter((c) => c.role === 'user');
  return lastTextWith(
    users.map(
      (c) =>
        (c.parts ?? [])
          .filter((p) => p.text !== undefined)
          .map((p) => p.text)
          .join('\n') || undefined,
    ),
  );
}

export function validateGemini(req: IncomingMessage, model: string, body: GeminiBody): string | null {
  if (!req.headers['x-goog-api-key'] && !new URL(req.url ?? '/', 'http://x').searchParams.get('key'))
    return "Method doesn't allow unregistered callers. Please use API Key.";
  const contents = body.contents ?? [];
  if (!contents.length) return '* GenerateContentRequest.contents: contents is not specified';
  for (const [i, c] of contents.entries()) {
    if (c.role !== 'user' && c.role !== 'model') return `Please use a valid role: user, model. (contents[${i}].role = ${c.role})`;
    const calls = (c.parts ?? []).filter((p) => p.functionCall);
    // Gemini 3 validates that the first function call of each model turn carries its signature.
    if (/gemini-3/.test(model) && calls.length && !calls[0]!.thoughtSignature)
      return `Function call is missing a thought_signature in functionCall parts. (contents[${i}].parts)`;
    const next = contents[i + 1];
    if (calls.length && next) {
      const responses = (next.parts ?? []).filter((p) => p.functionResponse).length;
      if (responses !== calls.length)
        return 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.';
    }
  }
  return null;
}

export async function handleGeminiGenerate(
  ctx: MockContext,
  req: IncomingMessage,
  res: ServerResponse,
  model: string,
  stream: boolean,
  body: GeminiBody,
  baseScript: MockScript,
): Promise<void> {
  const contents = body.contents ?? [];
  const last = contents.at(-1);
  const results = (last?.parts ?? []).filter((p) => p.functionResponse).map((p) => JSON.stringify(p.functionResponse!.response ?? {}));
  const script = results.length ? afterToolResults(baseScript, results) : baseScript;
  const responseId = `mockResp${ctx.nextId()}`;
  const allTexts = [...(body.systemInstruction?.parts ?? []), ...contents.flatMap((c) => c.parts ?? [])]
    .map((p) => p.text ?? (p.functionResponse ? JSON.stringify(p.functionResponse) : ''))
    .filter(Boolean);
  const promptTokens = countPromptTokens(allTexts);
  const tokens = replyTokens(script);
  const thoughts = body.generationConfig?.thinkingConfig?.includeThoughts ? script.reasoning : undefined;
  const thoughtTokens = script.reasoning ? countPromptTokens([script.reasoning]) : 0;
  const calls = (script.tool_calls ?? []).map((t, i) => {
    const part: Part = { functionCall: { name: t.name, args: t.arguments } };
    // Only the first call of a turn carries the signature, as on Gemini 3.
    if (i === 0) part.thoughtSignature = Buffer.from(`mock-thought-${responseId}`).toString('base64');
    return part;
  });
  const text = calls.length && script.text === undefined ? '' : tokens.join('');
  const candidatesTokens = tokens.length + calls.length * 8;
  const finishReason = script.finish_reason ?? 'STOP';
  const usage = (final: boolean, sent: number) => ({
    promptTokenCount: promptTokens,
    ...(final || sent ? { candidatesTokenCount: final ? candidatesTokens : sent } : {}),
    totalTokenCount: promptTokens + (final ? candidatesTokens : sent) + thoughtTokens,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: promptTokens }],
    ...(thoughtTokens ? { thoughtsTokenCount: thoughtTokens } : {}),
    ...(script.cached_tokens ? { cachedContentTokenCount: script.cached_tokens } : {}),
  });
  const envelope = (parts: Part[], final: boolean, sent: number) => ({
    candidates: [{ content: { parts, role: 'model' }, ...(final ? { finishReason } : {}), index: 0 }],
    usageMetadata: usage(final, sent),
    modelVersion: model,
    responseId,
  });

  if (script.ttft_ms > 0) await ctx.sleep(script.ttft_ms, res);
  if (res.destroyed) return;

  if (!stream) {
    if (script.drop_after !== undefined) return void req.socket.destroy();
    const parts: Part[] = [];
    if (thoughts) parts.push({ text: thoughts, thought: true });
    if (text) parts.push({ text });
    parts.push(...calls);
    const payload = JSON.stringify(envelope(parts, true, 0));
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    return void res.end(payload);
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'content-disposition': 'attachment' });
  const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\r\n\r\n`);
  if (thoughts) send(envelope([{ text: thoughts, thought: true }], false, 0));
  let sent = 0;
  const outcome = await writeTokens(ctx, res, script, text ? tokens : [], (tok) => send(envelope([{ text: tok }], false, ++sent)));
  if (outcome === 'dropped') return;
  if (outcome === 'failed') {
    const e = script.error!;
    send(geminiErrorBody(e.status, e.message ?? `simulated error ${e.status}`));
    return void res.end();
  }
  // Function calls arrive whole; the last chunk carries finishReason (and an empty text part).
  if (calls.length) send(envelope(calls, false, sent));
  send(envelope([{ text: '' }], true, sent));
  res.end();
}

export function handleGeminiEmbed(res: ServerResponse, batch: boolean, body: GeminiBody): void {
  const requests = batch ? (body.requests ?? []) : [{ content: body.content, outputDimensionality: body.outputDimensionality }];
  const embeddings = requests.map((r) => ({
    values: embed((r.content?.parts ?? []).map((p) => p.text ?? '').join(''), r.outputDimensionality ?? 8),
  }));
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(batch ? { embeddings } : { embedding: embeddings[0] }));
}
