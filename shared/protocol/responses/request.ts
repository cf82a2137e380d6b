// The public `POST /v1/responses` body. Switchyard runs a Responses request as a chat completion on
// the internal path, so every field is either mapped (responses/to-chat.ts), echoed (metadata), or
// refused with a 400 naming it: a field we cannot honour is never dropped silently.
import { z } from 'zod';
import { errors } from '../errors.ts';
import { validate } from '../request-errors.ts';

/** Input item and content part shapes; each checked with its path (`input[2].call_id`). */
const inputText = z.object({ type: z.literal('input_text'), text: z.string() }).loose();
const inputImage = z
  .object({
    type: z.literal('input_image'),
    image_url: z.string().min(1),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  })
  .loose();
const outputText = z.object({ type: z.literal('output_text'), text: z.string() }).loose();
const refusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() }).loose();

export const messageItemSchema = z
  .object({
    type: z.literal('message').optional(),
    role: z.enum(['user', 'system', 'developer', 'assistant']),
    content: z.union([z.string(), z.array(z.object({ type: z.string() }).loose())]),
  })
  .loose();
export const functionCallItemSchema = z
  .object({ type: z.literal('function_call'), call_id: z.string().min(1), name: z.string().min(1), arguments: z.string() })
  .loose();
export const functionCallOutputItemSchema = z
  .object({
    type: z.literal('function_call_output'),
    call_id: z.string().min(1),
    output: z.union([z.string(), z.array(z.object({ type: z.string() }).loose())]),
  })
  .loose();
export const reasoningItemSchema = z
  .object({ type: z.literal('reasoning'), summary: z.array(z.object({ type: z.literal('summary_text'), text: z.string() }).loose()) })
  .loose();

export const contentPartSchemas = { input_text: inputText, input_image: inputImage, output_text: outputText, refusal: refusalPart };

const functionTool = z
  .object({
    type: z.literal('function'),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 characters of a-z, A-Z, 0-9, _ or -'),
    description: z.string().nullable().optional(),
    parameters: z.record(z.string(), z.unknown()).nullable().optional(),
    strict: z.boolean().nullable().optional(),
  })
  .loose();

// Object choices other than a function (hosted tools, allowed_tools) are refused in to-chat.ts by name.
const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.string(), name: z.string().min(1).optional() }).loose(),
]);

const textFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).loose(),
  z.object({ type: z.literal('json_object') }).loose(),
  z
    .object({
      type: z.literal('json_schema'),
      name: z.string().min(1),
      schema: z.record(z.string(), z.unknown()),
      description: z.string().optional(),
      strict: z.boolean().nullable().optional(),
    })
    .loose(),
]);

/** Top-level fields are strict: OpenAI answers an unknown one with 400 `unknown_parameter`, so do we. */
export const responsesRequestSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.object({ type: z.string().optional() }).loose())]),
    instructions: z.string().nullable().optional(),
    previous_response_id: z.string().min(1).nullable().optional(),
    store: z.boolean().nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_obfuscation: z.boolean().optional() }).strict().nullable().optional(),
    tools: z.array(z.object({ type: z.string() }).loose()).optional(),
    tool_choice: toolChoice.optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    reasoning: z
      .object({
        effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
        summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
        generate_summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
      })
      .strict()
      .nullable()
      .optional(),
    max_output_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    text: z.object({ format: textFormat.optional(), verbosity: z.null().optional() }).strict().optional(),
    metadata: z
      .record(z.string().max(64), z.string().max(512))
      .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys')
      .nullable()
      .optional(),
    user: z.string().optional(),
    safety_identifier: z.string().nullable().optional(),
    prompt_cache_key: z.string().nullable().optional(),
    truncation: z.literal('disabled', { message: "only 'disabled' is supported" }).nullable().optional(),
    include: z.array(z.string()).max(0, { message: 'no extra output data is supported' }).nullable().optional(),
    service_tier: z.enum(['auto', 'default']).nullable().optional(),
    // Refused below when set; listed so that the 400 says "not supported", not "unknown".
    background: z.boolean().nullable().optional(),
    conversation: z.unknown().optional(),
    prompt: z.unknown().optional(),
    context_management: z.unknown().optional(),
    moderation: z.unknown().optional(),
    top_logprobs: z.unknown().optional(),
    prompt_cache_retention: z.unknown().optional(),
    prompt_cache_options: z.unknown().optional(),
  })
  .strict();
export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type FunctionTool = z.infer<typeof functionTool>;
/** A validated request: only function tools remain in `tools`. */
export type ParsedResponsesRequest = Omit<ResponsesRequest, 'tools'> & { tools?: FunctionTool[] };

/** OpenAI Responses features with no equivalent on the chat path: a set value is a 400 naming it. */
const UNSUPPORTED_FIELDS: Record<string, string> = {
  background: 'background responses are not supported; use `Prefer: respond-async` on /v1/chat/completions',
  conversation: 'conversations are not supported; chain responses with `previous_response_id`',
  prompt: 'stored prompt templates are not supported',
  context_management: 'context management is not supported',
  moderation: 'moderation is not supported',
  top_logprobs: 'log probabilities are not supported',
  prompt_cache_retention: 'prompt cache retention is not supported',
  prompt_cache_options: 'prompt cache options are not supported',
};

/** Tools that run inside OpenAI's platform; Switchyard relays function calls only. */
const BUILT_IN_TOOL_HINT = 'only function tools ({"type":"function","name",...}) are supported';

export const unsupported = errors.featureNotServed;

/** Validates the body; throws the OpenAI-style 400 for the first bad, unknown or unsupported field. */
export function parseResponsesRequest(body: unknown): ParsedResponsesRequest {
  const req = validate(responsesRequestSchema, body);
  for (const [field, why] of Object.entries(UNSUPPORTED_FIELDS)) {
    const value = (req as Record<string, unknown>)[field];
    if (value !== undefined && value !== null && value !== false) throw unsupported(field, why);
  }
  const tools = req.tools?.map((tool, i) => {
    if (tool.type !== 'function')
      throw unsupported(`tools[${i}].type`, `the built-in tool '${tool.type}' is not available; ${BUILT_IN_TOOL_HINT}`);
    return validate(functionTool, tool, `tools[${i}].`);
  });
  return { ...req, tools };
}
