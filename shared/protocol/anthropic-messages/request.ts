// Anthropic Messages request (`POST /v1/messages`), as a client of Switchyard sends it. Only what the
// route acts on is checked; everything else (cache_control, signatures, new block types) passes
// through untouched, because an anthropic/* model gets the body as it came.
import { z } from 'zod';

const block = z.object({ type: z.string() }).loose();
const content = z.union([z.string(), z.array(block)]);

export const messagesRequestSchema = z
  .object({
    model: z.string().min(1),
    max_tokens: z.number().int().positive(),
    messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content }).loose()).min(1),
    system: z.union([z.string(), z.array(z.object({ type: z.literal('text'), text: z.string() }).loose())]).optional(),
    stream: z.boolean().optional(),
    stop_sequences: z.array(z.string()).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().nonnegative().optional(),
    metadata: z.object({ user_id: z.string().nullable().optional() }).loose().optional(),
    tools: z.array(z.object({ name: z.string() }).loose()).optional(),
    tool_choice: z
      .object({ type: z.enum(['auto', 'any', 'tool', 'none']) })
      .loose()
      .optional(),
    thinking: z.object({ type: z.string() }).loose().optional(),
  })
  .loose();
export type MessagesRequest = z.infer<typeof messagesRequestSchema>;

/** `POST /v1/messages/count_tokens`: the same body without max_tokens. */
export const countTokensRequestSchema = messagesRequestSchema.omit({ max_tokens: true, stream: true });
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;
