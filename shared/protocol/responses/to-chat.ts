// A Responses request as the chat completion every provider adapter already speaks: input items ->
// messages, Responses tools -> chat tools, text.format -> response_format, reasoning.effort ->
// reasoning_effort. Pure functions; the route adds the stored turns of `previous_response_id`.
import type { ChatCompletionRequest, ChatMessage } from '../openai.ts';
import { validate } from '../request-errors.ts';
import {
  contentPartSchemas,
  functionCallItemSchema,
  functionCallOutputItemSchema,
  messageItemSchema,
  reasoningItemSchema,
  unsupported,
  type FunctionTool,
  type ParsedResponsesRequest,
  type ResponsesRequest,
} from './request.ts';

type ChatContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };
type AssistantChatMessage = Extract<ChatMessage, { role: 'assistant' }>;

/** The request's `input` as chat messages (not including `instructions` or earlier turns). */
export function inputToMessages(input: ResponsesRequest['input']): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  const out: ChatMessage[] = [];
  const lastAssistant = (): AssistantChatMessage | undefined => {
    const last = out.at(-1);
    return last?.role === 'assistant' ? last : undefined;
  };
  input.forEach((raw, i) => {
    const at = `input[${i}].`;
    const type = raw.type ?? 'message';
    if (type === 'message') {
      const item = validate(messageItemSchema, raw, at);
      if (item.role === 'assistant') {
        out.push({ role: 'assistant', content: contentText(item.content, `${at}content`, 'assistant') });
      } else out.push({ role: item.role, content: contentParts(item.content, `${at}content`, item.role) });
    } else if (type === 'function_call') {
      const item = validate(functionCallItemSchema, raw, at);
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      // Parallel calls (and a text answer followed by calls) are one assistant turn on the chat path.
      const prev = lastAssistant();
      if (prev) prev.tool_calls = [...(prev.tool_calls ?? []), call];
      else out.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      const item = validate(functionCallOutputItemSchema, raw, at);
      out.push({ role: 'tool', tool_call_id: item.call_id, content: contentText(item.output, `${at}output`, 'tool') });
    } else if (type === 'reasoning') {
      // Echoed back from an earlier output: checked, not sent. Chat upstreams take no reasoning back
      // (OpenAI rejects `reasoning_content` on messages; Anthropic would need its signed thinking blocks).
      validate(reasoningItemSchema, raw, at);
    } else {
      throw unsupported(
        `${at}type`,
        `input items of type '${type}' cannot be relayed; use message, function_call, function_call_output or reasoning items`,
      );
    }
  });
  return out;
}

/** User, system and developer content: text and images as chat content parts. */
function contentParts(content: string | Array<{ type: string }>, param: string, role: string): string | ChatContentPart[] {
  if (typeof content === 'string') return content;
  const parts = content.map((raw, j): ChatContentPart => {
    const at = `${param}[${j}].`;
    if (raw.type === 'input_text' || raw.type === 'output_text') {
      return { type: 'text', text: validate(contentPartSchemas[raw.type], raw, at).text };
    }
    if (raw.type === 'input_image') {
      if ('file_id' in raw && raw.file_id)
        throw unsupported(`${at}file_id`, 'images by file id are not supported; send image_url (https or data URL)');
      const part = validate(contentPartSchemas.input_image, raw, at);
      return { type: 'image_url', image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } };
    }
    throw unsupported(`${at}type`, `content parts of type '${raw.type}' are not supported in ${role} messages`);
  });
  // System and developer turns are text only on most providers.
  if (role !== 'user' && parts.some((p) => p.type !== 'text')) throw unsupported(param, `${role} messages may only hold text`);
  return parts;
}

/** Assistant and tool content: the text of its parts (output_text, refusal, input_text). */
function contentText(content: string | Array<{ type: string }>, param: string, role: string): string {
  if (typeof content === 'string') return content;
  return content
    .map((raw, j) => {
      const at = `${param}[${j}].`;
      if (raw.type === 'output_text' || raw.type === 'input_text') return validate(contentPartSchemas[raw.type], raw, at).text;
      if (raw.type === 'refusal') return validate(contentPartSchemas.refusal, raw, at).refusal;
      throw unsupported(`${at}type`, `content parts of type '${raw.type}' are not supported in ${role} content`);
    })
    .join('');
}

export function toChatTools(tools: FunctionTool[]): NonNullable<ChatCompletionRequest['tools']> {
  return tools.map((t) => ({
    type: 'function' as const,
    function: {
      name: t.name,
      ...(t.description ? { description: t.description } : {}),
      ...(t.parameters ? { parameters: t.parameters } : {}),
      ...(t.strict !== undefined && t.strict !== null ? { strict: t.strict } : {}),
    },
  }));
}

export function toChatToolChoice(choice: ResponsesRequest['tool_choice']): ChatCompletionRequest['tool_choice'] {
  if (choice === undefined || typeof choice === 'string') return choice;
  if (choice.type === 'function' && choice.name) return { type: 'function', function: { name: choice.name } };
  throw unsupported(
    'tool_choice.type',
    `tool choice '${choice.type}' is not available; use none, auto, required or {"type":"function","name":...}`,
  );
}

export function toResponseFormat(format: NonNullable<ResponsesRequest['text']>['format']): ChatCompletionRequest['response_format'] {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  return {
    type: 'json_schema',
    json_schema: {
      name: format.name,
      schema: format.schema,
      ...(format.description ? { description: format.description } : {}),
      ...(format.strict !== undefined && format.strict !== null ? { strict: format.strict } : {}),
    },
  };
}

/**
 * The chat completion body published to the workers. `history` is the conversation of the
 * `previous_response_id` chain (its instructions are not carried over, as OpenAI does).
 */
export function toChatRequest(req: ParsedResponsesRequest, history: ChatMessage[], input: ChatMessage[]): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (req.instructions) messages.push({ role: 'system', content: req.instructions });
  messages.push(...history, ...input);
  const body: ChatCompletionRequest = { model: req.model, messages };
  if (req.stream) body.stream = true;
  if (req.tools?.length) body.tools = toChatTools(req.tools);
  const toolChoice = toChatToolChoice(req.tool_choice);
  if (toolChoice !== undefined) body.tool_choice = toolChoice;
  if (typeof req.parallel_tool_calls === 'boolean' && req.tools?.length) body.parallel_tool_calls = req.parallel_tool_calls;
  if (req.max_output_tokens) body.max_completion_tokens = req.max_output_tokens;
  if (typeof req.temperature === 'number') body.temperature = req.temperature;
  if (typeof req.top_p === 'number') body.top_p = req.top_p;
  const format = toResponseFormat(req.text?.format);
  if (format) body.response_format = format;
  if (req.reasoning?.effort) body.reasoning_effort = req.reasoning.effort;
  if (req.user) body.user = req.user;
  if (req.safety_identifier) Object.assign(body, { safety_identifier: req.safety_identifier });
  if (req.prompt_cache_key) Object.assign(body, { prompt_cache_key: req.prompt_cache_key });
  return body;
}
