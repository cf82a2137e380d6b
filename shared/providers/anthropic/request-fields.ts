// What the Anthropic adapter does with each OpenAI chat request field (see ../request-fields.ts).
import type { ChatCompletionRequest } from '../../protocol/openai.ts';
import { NOT_RELAYED, refused, translated, type RequestFieldTable } from '../request-fields.ts';
import { THINKING_BUDGET } from './build-request.ts';

const thinks = (req: ChatCompletionRequest) => !!req.reasoning_effort && THINKING_BUDGET[req.reasoning_effort] !== undefined;

export const anthropicRequestFields: RequestFieldTable = {
  ...NOT_RELAYED,
  n: refused('Anthropic answers with one message; send n requests'),
  frequency_penalty: refused('Anthropic has no frequency penalty'),
  presence_penalty: refused('Anthropic has no presence penalty'),
  logit_bias: refused('Anthropic has no token bias'),
  logprobs: refused('Anthropic returns no log probabilities'),
  top_logprobs: refused('Anthropic returns no log probabilities'),
  max_completion_tokens: translated('max_tokens'),
  max_tokens: translated('max_tokens (4096 when unset: Anthropic requires one)'),
  metadata: refused('Anthropic metadata takes only a user id; use user or safety_identifier'),
  moderation: refused('Anthropic has no moderated completions'),
  parallel_tool_calls: translated('tool_choice.disable_parallel_tool_use'),
  prediction: refused('Anthropic has no predicted outputs'),
  prompt_cache_key: refused('Anthropic caches at cache_control breakpoints, not by key'),
  prompt_cache_options: refused('Anthropic caches at cache_control breakpoints'),
  prompt_cache_retention: refused('Anthropic caches at cache_control breakpoints'),
  reasoning_effort: translated('thinking.budget_tokens'),
  response_format: translated('output_config.format (json_schema); a forced tool (json_object)'),
  safety_identifier: translated('metadata.user_id'),
  seed: refused('Anthropic has no seed'),
  service_tier: translated('service_tier: default -> standard_only', (req) =>
    req.service_tier === 'default' ? null : `Anthropic offers only the default tier, not '${String(req.service_tier)}'`,
  ),
  stop: translated('stop_sequences'),
  store: refused('Anthropic stores no completions'),
  // Extended thinking runs at temperature 1 and top_p >= 0.95 only (Anthropic rejects anything else).
  temperature: translated('temperature, capped at 1', (req) =>
    thinks(req) && req.temperature !== 1 ? 'with reasoning_effort, Anthropic runs at temperature 1 only' : null,
  ),
  top_p: translated('top_p', (req) =>
    thinks(req) && (req.top_p ?? 1) < 0.95 ? 'with reasoning_effort, Anthropic takes top_p >= 0.95 only' : null,
  ),
  tool_choice: translated('tool_choice (required -> any, a function -> tool)'),
  tools: translated('tools with input_schema'),
  user: translated('metadata.user_id'),
  verbosity: refused('Anthropic has no verbosity setting'),
  web_search_options: refused('declare a web search tool instead'),
  input_audio: refused('Anthropic takes no audio input'),
  file: translated('a PDF document block from file_data (other types and file_id are refused by the worker)'),
};
