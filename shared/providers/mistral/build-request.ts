// Mistral speaks OpenAI Chat Completions with stricter bodies: unknown fields are a 422
// (`extra_forbidden`), so only fields Mistral takes are sent. `seed` is `random_seed`,
// `max_completion_tokens` is `max_tokens`, there is no `developer` role and no `stream_options`
// (the last stream chunk always carries usage). `safe_prompt` passes through when the client sets it.
import type { ChatCompletionRequest } from '../../protocol/openai.ts';
import type { Endpoint, UpstreamRequest } from '../types.ts';
import { toMistralToolCallId } from './tool-call-id.ts';

const PASSED_THROUGH = [
  'temperature',
  'top_p',
  'stop',
  'response_format',
  'tools',
  'tool_choice',
  'presence_penalty',
  'frequency_penalty',
  'n',
  'parallel_tool_calls',
  'prediction',
  'safe_prompt',
  'random_seed',
] as const;

type Message = ChatCompletionRequest['messages'][number];

function toMistralMessage(m: Message): Record<string, unknown> {
  if (m.role === 'tool') return { role: 'tool', content: m.content, tool_call_id: toMistralToolCallId(m.tool_call_id) };
  if (m.role === 'assistant') {
    const out: Record<string, unknown> = { role: 'assistant', content: m.content ?? null };
    if (m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((t) => ({
        id: toMistralToolCallId(t.id),
        type: 'function',
        function: { name: t.function.name, arguments: t.function.arguments },
      }));
    }
    return out;
  }
  return { role: m.role === 'developer' ? 'system' : m.role, content: m.content };
}

export function mistralChatBody(model: string, req: ChatCompletionRequest, stream: boolean): Record<string, unknown> {
  const src = req as Record<string, unknown>;
  const body: Record<string, unknown> = { model, messages: req.messages.map(toMistralMessage), stream };
  for (const key of PASSED_THROUGH) if (src[key] !== undefined && src[key] !== null) body[key] = src[key];
  if (req.seed !== undefined && req.seed !== null && body.random_seed === undefined) body.random_seed = req.seed;
  const maxTokens = req.max_completion_tokens ?? req.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) body.max_tokens = maxTokens;
  return body;
}

export function buildMistralChatRequest(endpoint: Endpoint, model: string, req: ChatCompletionRequest, stream: boolean): UpstreamRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
  };
  if (endpoint.apiKey) headers.authorization = `Bearer ${endpoint.apiKey}`;
  return { url: `${endpoint.baseUrl}/chat/completions`, headers, body: JSON.stringify(mistralChatBody(model, req, stream)) };
}
