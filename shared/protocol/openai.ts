// Public OpenAI request shapes. Unknown fields pass through (clients send many we don't model);
// the fields we act on are checked so a bad one is named in the 400.
import { z } from 'zod';

const textPart = z.object({ type: z.literal('text'), text: z.string() }).loose();
const imagePart = z
  .object({
    type: z.literal('image_url'),
    image_url: z.object({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }).loose(),
  })
  .loose();
const otherPart = z.object({ type: z.string() }).loose();
const contentPart = z.union([textPart, imagePart, otherPart]);
const content = z.union([z.string(), z.array(contentPart)]);

const toolCall = z
  .object({
    id: z.string(),
    type: z.literal('function'),
    function: z.object({ name: z.string(), arguments: z.string() }).loose(),
  })
  .loose();

export const chatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content, name: z.string().optional() }).loose(),
  z.object({ role: z.literal('developer'), content, name: z.string().optional() }).loose(),
  z.object({ role: z.literal('user'), content, name: z.string().optional() }).loose(),
  z
    .object({
      role: z.literal('assistant'),
      content: content.nullable().optional(),
      tool_calls: z.array(toolCall).optional(),
      reasoning_content: z.string().optional(),
      name: z.string().optional(),
    })
    .loose(),
  z.object({ role: z.literal('tool'), content, tool_call_id: z.string() }).loose(),
]);

const toolSchema = z
  .object({
    type: z.literal('function'),
    function: z
      .object({
        name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 characters of a-z, A-Z, 0-9, _ or -'),
        description: z.string().optional(),
        parameters: z.record(z.string(), z.unknown()).optional(),
        strict: z.boolean().nullable().optional(),
      })
      .loose(),
  })
  .loose();

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }).loose(),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).loose(),
  z.object({ type: z.literal('json_object') }).loose(),
  z
    .object({
      type: z.literal('json_schema'),
      json_schema: z
        .object({ name: z.string(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullable().optional() })
        .loose(),
    })
    .loose(),
]);

export const chatCompletionRequestSchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(chatMessageSchema).min(1),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
    max_tokens: z.number().int().positive().nullable().optional(),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    // n > 1 is refused per provider (shared/providers/request-fields.ts): Switchyard relays one choice.
    n: z.number().int().positive().nullable().optional(),
    stop: z
      .union([z.string(), z.array(z.string()).max(4)])
      .nullable()
      .optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    seed: z.number().int().nullable().optional(),
    user: z.string().optional(),
    tools: z.array(toolSchema).optional(),
    tool_choice: toolChoice.optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: responseFormat.optional(),
    reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    service_tier: z.string().nullable().optional(),
    safety_identifier: z.string().nullable().optional(),
    modalities: z
      .array(z.enum(['text', 'audio']))
      .nullable()
      .optional(),
    store: z.boolean().nullable().optional(),
  })
  .loose();
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const embeddingsRequestSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([
      z.string(),
      z.array(z.string()).min(1).max(2048),
      z.array(z.number().int()).min(1),
      z.array(z.array(z.number().int()).min(1)).min(1).max(2048),
    ]),
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.number().int().positive().optional(),
    user: z.string().optional(),
  })
  .loose();
export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

/** Names the first bad field the way OpenAI does: `messages[0].role`. */
export function zodIssueToParam(issue: z.core.$ZodIssue): string {
  let out = '';
  for (const seg of issue.path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}
