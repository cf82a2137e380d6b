// Anthropic Message -> normalized chat result.
import { z } from 'zod';
import type { AssistantMessage } from '../../protocol/events.ts';
import type { ChatResult } from '../types.ts';
import { anthropicUsageSchema, convertAnthropicUsage } from './usage.ts';
import { mapAnthropicStopReason, refusalText } from './finish-reason.ts';
import { JSON_MODE_TOOL } from './build-request.ts';

// Known block types are checked strictly; others (server tools, search results) carry nothing an
// OpenAI client can show and only need a type.
const BLOCK_SCHEMAS: Record<string, z.ZodType> = {
  text: z.object({ type: z.literal('text'), text: z.string() }).loose(),
  thinking: z.object({ type: z.literal('thinking'), thinking: z.string() }).loose(),
  tool_use: z.object({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.unknown() }).loose(),
};
const contentBlockSchema = z
  .object({ type: z.string() })
  .loose()
  .superRefine((b, ctx) => {
    const specific = BLOCK_SCHEMAS[b.type]?.safeParse(b);
    if (specific && !specific.success)
      ctx.addIssue({
        code: 'custom',
        message: `${b.type} block: ${specific.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
      });
  });

const messageSchema = z
  .object({
    type: z.literal('message').optional(),
    model: z.string().optional(),
    content: z.array(contentBlockSchema),
    stop_reason: z.string().nullable().optional(),
    stop_details: z.object({ explanation: z.string().nullable().optional() }).loose().nullable().optional(),
    usage: anthropicUsageSchema.optional(),
  })
  .loose();

export function parseAnthropicChatResponse(body: unknown, model: string): ChatResult {
  const parsed = messageSchema.parse(body);
  let text = '';
  let reasoning = '';
  let jsonMode = false;
  const toolCalls: NonNullable<AssistantMessage['tool_calls']> = [];
  for (const block of parsed.content) {
    const b = block as { type: string; text?: string; thinking?: string; id?: string; name?: string; input?: unknown };
    if (b.type === 'text') text += b.text;
    else if (b.type === 'thinking') reasoning += b.thinking;
    else if (b.type === 'tool_use' && b.name === JSON_MODE_TOOL) {
      jsonMode = true;
      text += JSON.stringify(b.input ?? {});
    } else if (b.type === 'tool_use') {
      toolCalls.push({ id: b.id!, type: 'function', function: { name: b.name!, arguments: JSON.stringify(b.input ?? {}) } });
    }
  }
  const refusal = parsed.stop_reason === 'refusal' ? refusalText(parsed.stop_details?.explanation) : undefined;
  const message: AssistantMessage = { role: 'assistant', content: text === '' && (toolCalls.length || refusal) ? null : text };
  if (refusal) message.refusal = refusal;
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length) message.tool_calls = toolCalls;
  const finish = jsonMode && parsed.stop_reason === 'tool_use' ? 'stop' : mapAnthropicStopReason(parsed.stop_reason);
  return { message, finish_reason: finish, usage: convertAnthropicUsage(parsed.usage), model: parsed.model ?? model };
}
