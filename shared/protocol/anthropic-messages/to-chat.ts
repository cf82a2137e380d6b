// Anthropic Messages request -> the internal (OpenAI chat) request, for every provider but Anthropic.
// What has no counterpart there (cache_control, top_k, documents, server tools, redacted thinking)
// is refused with a 400 naming the field: dropping it silently would change the answer unseen.
import { ApiError } from '../errors.ts';
import type { ChatCompletionRequest, ChatMessage } from '../openai.ts';
import type { MessagesRequest } from './request.ts';

/** Top-level fields that translate; any other is named in a 400. */
const TRANSLATED_FIELDS = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'stream',
  'stop_sequences',
  'temperature',
  'top_p',
  'metadata',
  'tools',
  'tool_choice',
  'thinking',
]);

/** OpenAI takes at most four stop strings. */
const MAX_STOP = 4;

type Block = { type: string; [k: string]: unknown };
type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

export function untranslatable(param: string, provider: string, why: string): ApiError {
  return new ApiError(400, `'${param}' cannot be sent to provider '${provider}': ${why}. Only anthropic/* models take it.`, {
    param,
    code: 'unsupported_parameter',
  });
}

/** Reasoning effort for an Anthropic thinking budget (the inverse of the Anthropic adapter's table). */
function effortFor(budget: number): ChatCompletionRequest['reasoning_effort'] {
  if (budget <= 1024) return 'minimal';
  if (budget <= 2048) return 'low';
  if (budget <= 8192) return 'medium';
  return 'high';
}

export function messagesToChatRequest(req: MessagesRequest, provider: string): ChatCompletionRequest {
  const fail = (param: string, why: string) => untranslatable(param, provider, why);
  for (const key of Object.keys(req)) if (!TRANSLATED_FIELDS.has(key)) throw fail(key, 'it has no counterpart there');

  const messages: ChatMessage[] = [];
  if (req.system !== undefined) {
    if (typeof req.system === 'string') {
      if (req.system !== '') messages.push({ role: 'system', content: req.system });
    } else {
      req.system.forEach((b, i) => rejectExtras(b, ['type', 'text'], `system[${i}]`, fail));
      const text = req.system.map((b) => b.text).join('\n\n');
      if (text !== '') messages.push({ role: 'system', content: text });
    }
  }
  req.messages.forEach((m, i) => {
    for (const key of Object.keys(m)) if (key !== 'role' && key !== 'content') throw fail(`messages[${i}].${key}`, 'unknown message field');
    if (typeof m.content === 'string') {
      messages.push({ role: m.role, content: m.content });
      return;
    }
    const blocks = m.content as Block[];
    if (m.role === 'assistant') messages.push(assistantMessage(blocks, `messages[${i}]`, fail));
    else messages.push(...userMessages(blocks, `messages[${i}]`, fail));
  });

  const out: ChatCompletionRequest = { model: req.model, messages, max_tokens: req.max_tokens };
  if (req.stream) out.stream = true;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.top_p !== undefined) out.top_p = req.top_p;
  if (req.stop_sequences?.length) {
    if (req.stop_sequences.length > MAX_STOP) throw fail('stop_sequences', `at most ${MAX_STOP} stop sequences translate`);
    out.stop = req.stop_sequences;
  }
  if (req.metadata) {
    for (const key of Object.keys(req.metadata)) if (key !== 'user_id') throw fail(`metadata.${key}`, 'only metadata.user_id translates');
    if (req.metadata.user_id) out.user = req.metadata.user_id;
  }
  if (req.thinking) {
    const t = req.thinking as { type: string; budget_tokens?: unknown };
    if (t.type === 'enabled') out.reasoning_effort = effortFor(typeof t.budget_tokens === 'number' ? t.budget_tokens : 8192);
    else if (t.type === 'adaptive') out.reasoning_effort = 'medium';
    else if (t.type !== 'disabled') throw fail('thinking.type', `'${t.type}' is not known`);
  }
  if (req.tools?.length) {
    out.tools = req.tools.map((tool, i) => {
      const t = tool as { name: string; type?: string; description?: string; input_schema?: Record<string, unknown> };
      // Server tools (web_search_…, code_execution_…) run at Anthropic; a custom tool has no type or `custom`.
      if (t.type !== undefined && t.type !== 'custom') throw fail(`tools[${i}].type`, `the server tool '${t.type}' runs only at Anthropic`);
      rejectExtras(tool, ['name', 'type', 'description', 'input_schema'], `tools[${i}]`, fail);
      const fn: { name: string; description?: string; parameters?: Record<string, unknown> } = { name: t.name };
      if (t.description) fn.description = t.description;
      if (t.input_schema) fn.parameters = t.input_schema;
      return { type: 'function' as const, function: fn };
    });
  }
  if (req.tool_choice) {
    const tc = req.tool_choice as { type: string; name?: string; disable_parallel_tool_use?: boolean };
    rejectExtras(req.tool_choice, ['type', 'name', 'disable_parallel_tool_use'], 'tool_choice', fail);
    if (tc.type === 'tool') {
      if (!tc.name)
        throw new ApiError(400, "'tool_choice.name' is required when tool_choice.type is 'tool'.", { param: 'tool_choice.name' });
      out.tool_choice = { type: 'function', function: { name: tc.name } };
    } else out.tool_choice = tc.type === 'any' ? 'required' : tc.type === 'none' ? 'none' : 'auto';
    if (tc.disable_parallel_tool_use) out.parallel_tool_calls = false;
  }
  return out;
}

function assistantMessage(blocks: Block[], at: string, fail: (param: string, why: string) => ApiError): ChatMessage {
  let text = '';
  let reasoning = '';
  const toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  blocks.forEach((b, j) => {
    const param = `${at}.content[${j}]`;
    if (b.type === 'text') {
      rejectExtras(b, ['type', 'text', 'citations'], param, fail);
      text += String(b.text ?? '');
    } else if (b.type === 'thinking') {
      // The signature only proves to Anthropic that it wrote the thinking; no other provider checks one.
      rejectExtras(b, ['type', 'thinking', 'signature'], param, fail);
      reasoning += String(b.thinking ?? '');
    } else if (b.type === 'tool_use') {
      rejectExtras(b, ['type', 'id', 'name', 'input'], param, fail);
      toolCalls.push({ id: String(b.id), type: 'function', function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } });
    } else throw fail(`${param}.type`, `a '${b.type}' block cannot be carried`);
  });
  const msg: ChatMessage = { role: 'assistant', content: text === '' && toolCalls.length ? null : text };
  if (reasoning) msg.reasoning_content = reasoning;
  if (toolCalls.length) msg.tool_calls = toolCalls;
  return msg;
}

/** A user turn: tool results become `tool` messages (first, as Anthropic puts them), the rest one user message. */
function userMessages(blocks: Block[], at: string, fail: (param: string, why: string) => ApiError): ChatMessage[] {
  const tools: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  blocks.forEach((b, j) => {
    const param = `${at}.content[${j}]`;
    if (b.type === 'text') {
      rejectExtras(b, ['type', 'text'], param, fail);
      parts.push({ type: 'text', text: String(b.text ?? '') });
    } else if (b.type === 'image') {
      rejectExtras(b, ['type', 'source'], param, fail);
      parts.push({ type: 'image_url', image_url: { url: imageUrl(b.source, `${param}.source`, fail) } });
    } else if (b.type === 'tool_result') {
      rejectExtras(b, ['type', 'tool_use_id', 'content', 'is_error'], param, fail);
      const text = toolResultText(b.content, `${param}.content`, fail);
      // OpenAI has no error flag on a tool message; the model reads it from the text instead.
      tools.push({ role: 'tool', tool_call_id: String(b.tool_use_id), content: b.is_error === true ? `Error: ${text}` : text });
    } else throw fail(`${param}.type`, `a '${b.type}' block cannot be carried`);
  });
  const out = [...tools];
  if (parts.length) {
    const onlyText = parts.every((p) => p.type === 'text');
    out.push({ role: 'user', content: onlyText ? parts.map((p) => (p as { text: string }).text).join('\n') : parts });
  }
  return out;
}

function imageUrl(source: unknown, param: string, fail: (param: string, why: string) => ApiError): string {
  const s = source as { type?: string; media_type?: string; data?: string; url?: string } | undefined;
  if (s?.type === 'base64' && typeof s.data === 'string' && typeof s.media_type === 'string')
    return `data:${s.media_type};base64,${s.data}`;
  if (s?.type === 'url' && typeof s.url === 'string') return s.url;
  throw fail(`${param}.type`, `image source '${String(s?.type)}' cannot be carried (base64 and url can)`);
}

function toolResultText(content: unknown, param: string, fail: (param: string, why: string) => ApiError): string {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw fail(param, 'must be a string or an array of text blocks');
  return content
    .map((b: Block, k) => {
      if (b?.type !== 'text') throw fail(`${param}[${k}].type`, `a '${String(b?.type)}' block in a tool result cannot be carried`);
      rejectExtras(b, ['type', 'text'], `${param}[${k}]`, fail);
      return String(b.text ?? '');
    })
    .join('\n');
}

/** A block field the translation would lose (cache_control above all) is named, not dropped. */
function rejectExtras(obj: object, allowed: string[], param: string, fail: (param: string, why: string) => ApiError): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) throw fail(`${param}.${key}`, 'it has no counterpart there');
}
