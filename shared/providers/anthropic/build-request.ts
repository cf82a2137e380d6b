// OpenAI Chat Completions request -> Anthropic Messages request (`POST /v1/messages`).
import type { ChatCompletionRequest } from '../../protocol/openai.ts';
import type { Endpoint, UpstreamRequest } from '../types.ts';
import { convertToAnthropicMessages } from './convert-messages.ts';
import { prepareAnthropicTools } from './prepare-tools.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
/** Forced tool that emulates OpenAI JSON mode; its input comes back as the message text. */
export const JSON_MODE_TOOL = 'switchyard_json_response';
const DEFAULT_MAX_TOKENS = 4096;

/** `reasoning_effort` -> extended thinking budget (Anthropic's minimum is 1024). */
export const THINKING_BUDGET: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 16384, xhigh: 32768 };

export function buildAnthropicChatRequest(endpoint: Endpoint, model: string, req: ChatCompletionRequest, stream: boolean): UpstreamRequest {
  const { system, messages } = convertToAnthropicMessages(req.messages);
  const body: Record<string, unknown> = { model, messages };
  let maxTokens = req.max_completion_tokens ?? req.max_tokens ?? DEFAULT_MAX_TOKENS;
  let systemPrompt = system;

  const budget = req.reasoning_effort ? THINKING_BUDGET[req.reasoning_effort] : undefined;
  // Thinking cannot start in the middle of a tool loop whose earlier assistant turn had none (we never
  // hold the signed thinking blocks Anthropic wants back), so it is left off for those turns.
  const continuesToolLoop = messages.at(-1)?.content.some((b) => b.type === 'tool_result') ?? false;
  if (budget !== undefined && !continuesToolLoop) {
    // OpenAI's max_completion_tokens includes reasoning; Anthropic's max_tokens must exceed the budget.
    const thinkingBudget = req.max_completion_tokens || req.max_tokens ? Math.max(1024, Math.min(budget, maxTokens - 1)) : budget;
    if (maxTokens <= thinkingBudget) maxTokens = thinkingBudget + DEFAULT_MAX_TOKENS;
    body.thinking = { type: 'enabled', budget_tokens: thinkingBudget };
    // Thinking takes top_p >= 0.95 only (lower values are refused in ./request-fields.ts).
    if (req.top_p !== null && req.top_p !== undefined) body.top_p = req.top_p;
  } else {
    // Anthropic's temperature range is 0..1 and it must be left unset while thinking.
    if (req.temperature !== null && req.temperature !== undefined) body.temperature = Math.min(1, req.temperature);
    if (req.top_p !== null && req.top_p !== undefined) body.top_p = req.top_p;
  }
  body.max_tokens = maxTokens;
  if (req.stop) body.stop_sequences = Array.isArray(req.stop) ? req.stop : [req.stop];
  // safety_identifier replaces OpenAI's user; both name the end user, Anthropic's user_id.
  const endUser = req.safety_identifier || req.user;
  if (endUser) body.metadata = { user_id: endUser };
  if (req.service_tier === 'default') body.service_tier = 'standard_only';

  const { tools, tool_choice } = prepareAnthropicTools(req);
  const rf = req.response_format;
  if (rf?.type === 'json_schema' && rf.json_schema.schema) {
    body.output_config = { format: { type: 'json_schema', schema: rf.json_schema.schema } };
  } else if (rf?.type === 'json_object') {
    if (!tools) {
      body.tools = [{ name: JSON_MODE_TOOL, description: 'Respond with a JSON object.', input_schema: { type: 'object' } }];
      body.tool_choice = { type: 'tool', name: JSON_MODE_TOOL };
    } else systemPrompt = [systemPrompt, 'Respond only with a valid JSON object.'].filter(Boolean).join('\n\n');
  }
  if (tools) {
    body.tools = tools;
    if (tool_choice) body.tool_choice = tool_choice;
  }
  if (systemPrompt) body.system = systemPrompt;
  if (stream) body.stream = true;

  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    'anthropic-version': ANTHROPIC_VERSION,
  };
  if (endpoint.apiKey) headers['x-api-key'] = endpoint.apiKey;
  return { url: `${endpoint.baseUrl}/v1/messages`, headers, body: JSON.stringify(body) };
}
