// The legacy OpenAI `POST /v1/completions` request, and its mapping onto a chat request. Every
// provider is served through chat (none of ours but OpenAI's instruct models has a native
// completions endpoint): each prompt becomes one user message. Fields chat cannot reproduce are
// refused with a 400 naming them instead of being ignored silently.
import { z } from 'zod';
import { ApiError } from './errors.ts';

export const completionRequestSchema = z
  .object({
    model: z.string().min(1),
    // Token-id prompts (arrays of integers) cannot be mapped onto chat text: the zod error names `prompt`.
    prompt: z.union([z.string(), z.array(z.string()).min(1).max(64)]),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
    max_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    n: z.literal(1, { message: 'only n=1 is supported' }).nullable().optional(),
    stop: z
      .union([z.string(), z.array(z.string()).max(4)])
      .nullable()
      .optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    seed: z.number().int().nullable().optional(),
    user: z.string().optional(),
    suffix: z.string().nullable().optional(),
    echo: z.boolean().nullable().optional(),
    logprobs: z.number().int().min(0).max(5).nullable().optional(),
    best_of: z.number().int().positive().nullable().optional(),
  })
  .loose();
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** Throws the 400 for a field the chat mapping cannot honour. */
export function assertCompletionMappable(body: CompletionRequest): void {
  const unsupported = (param: string, why: string) =>
    new ApiError(400, `'${param}' is not supported on /v1/completions by this server: ${why}.`, { param, code: 'unsupported_parameter' });
  if (body.suffix) throw unsupported('suffix', 'completions are served through chat, which has no insertion mode');
  if (body.echo) throw unsupported('echo', 'chat models do not return the prompt');
  if (body.logprobs !== null && body.logprobs !== undefined) throw unsupported('logprobs', 'token log probabilities are not relayed');
  if (body.best_of !== null && body.best_of !== undefined && body.best_of !== 1)
    throw unsupported('best_of', 'only best_of=1 is supported');
  if (body.stream && Array.isArray(body.prompt) && body.prompt.length > 1)
    throw new ApiError(400, 'A streamed completion takes one prompt; send the prompts as separate requests.', {
      param: 'prompt',
      code: 'invalid_value',
    });
}

/** The list of prompts, one chat request each. */
export function promptsOf(body: CompletionRequest): string[] {
  return typeof body.prompt === 'string' ? [body.prompt] : body.prompt;
}

/** The chat request body for one prompt: the sampling fields carried over, the prompt as one user message. */
export function chatBodyForPrompt(body: CompletionRequest, prompt: string): Record<string, unknown> {
  const chat: Record<string, unknown> = { model: body.model, messages: [{ role: 'user', content: prompt }] };
  for (const k of ['max_tokens', 'temperature', 'top_p', 'stop', 'presence_penalty', 'frequency_penalty', 'seed', 'user'] as const) {
    if (body[k] !== undefined && body[k] !== null) chat[k] = body[k];
  }
  if (body.stream) {
    chat.stream = true;
    if (body.stream_options) chat.stream_options = body.stream_options;
  }
  return chat;
}
