// What the Ollama adapter does with each OpenAI chat request field (see ../request-fields.ts).
import { NOT_RELAYED, refused, translated, type RequestFieldTable } from '../request-fields.ts';

export const ollamaRequestFields: RequestFieldTable = {
  ...NOT_RELAYED,
  frequency_penalty: translated('options.frequency_penalty'),
  presence_penalty: translated('options.presence_penalty'),
  logit_bias: refused('Ollama has no token bias'),
  logprobs: refused('the Ollama adapter does not read log probabilities yet'),
  top_logprobs: refused('the Ollama adapter does not read log probabilities yet'),
  max_completion_tokens: translated('options.num_predict'),
  max_tokens: translated('options.num_predict'),
  metadata: refused('Ollama has no request metadata'),
  moderation: refused('Ollama has no moderated completions'),
  parallel_tool_calls: refused('Ollama has no switch for parallel tool calls'),
  prediction: refused('Ollama has no predicted outputs'),
  prompt_cache_key: refused('Ollama keeps its own prompt cache'),
  prompt_cache_options: refused('Ollama keeps its own prompt cache'),
  prompt_cache_retention: refused('Ollama keeps its own prompt cache (keep_alive)'),
  reasoning_effort: translated('think'),
  response_format: translated('format'),
  safety_identifier: refused('Ollama has no end-user identifier'),
  seed: translated('options.seed'),
  service_tier: refused('Ollama has no service tiers'),
  stop: translated('options.stop'),
  store: refused('Ollama stores no completions'),
  temperature: translated('options.temperature'),
  top_p: translated('options.top_p'),
  // Ollama has no tool_choice: "none" is honoured by not offering the tools; nothing forces a call.
  tool_choice: translated('none withholds the tools; auto is the default', (req) =>
    req.tool_choice === 'none' || req.tool_choice === 'auto' ? null : 'Ollama cannot force a tool call',
  ),
  tools: translated('tools'),
  user: refused('Ollama has no end-user identifier'),
  verbosity: refused('Ollama has no verbosity setting'),
  web_search_options: refused('Ollama has no web search'),
  input_audio: refused('Ollama takes images only'),
  file: refused('Ollama takes images only'),
};
