import { z } from 'zod';
import { EMPTY_USAGE, type AssistantMessage, type ChoiceLogprobs, type ResponseMeta, type Usage } from '../../protocol/events.ts';
import type { ChatResult, EmbeddingsResult } from '../types.ts';

export const openAIUsageSchema = z
  .object({
    prompt_tokens: z.number(),
    completion_tokens: z.number().optional().default(0),
    total_tokens: z.number().optional(),
    prompt_tokens_details: z.object({ cached_tokens: z.number().optional() }).loose().nullable().optional(),
    completion_tokens_details: z.object({ reasoning_tokens: z.number().optional() }).loose().nullable().optional(),
  })
  .loose();

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function').optional().default('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const tokenLogprobSchema = z
  .object({
    token: z.string(),
    logprob: z.number(),
    bytes: z.array(z.number()).nullable().optional(),
    top_logprobs: z
      .array(z.object({ token: z.string(), logprob: z.number(), bytes: z.array(z.number()).nullable().optional() }).loose())
      .nullable()
      .optional(),
  })
  .loose();
export const choiceLogprobsSchema = z
  .object({ content: z.array(tokenLogprobSchema).nullable().optional(), refusal: z.array(tokenLogprobSchema).nullable().optional() })
  .loose()
  .nullable()
  .optional();

/** `choices[].logprobs` in OpenAI's documented shape (every key present), or undefined when the upstream sent none. */
export function openAILogprobs(lp: z.infer<typeof choiceLogprobsSchema>): ChoiceLogprobs | undefined {
  if (!lp) return undefined;
  const tokens = (list: Array<z.infer<typeof tokenLogprobSchema>> | null | undefined) =>
    list
      ? list.map((t) => ({
          token: t.token,
          logprob: t.logprob,
          bytes: t.bytes ?? null,
          top_logprobs: (t.top_logprobs ?? []).map((a) => ({ token: a.token, logprob: a.logprob, bytes: a.bytes ?? null })),
        }))
      : null;
  return { content: tokens(lp.content), refusal: tokens(lp.refusal) };
}

/** system_fingerprint and service_tier of an answer or chunk, when the upstream sent them. */
export function openAIResponseMeta(body: { system_fingerprint?: string | null; service_tier?: string | null }): ResponseMeta | undefined {
  if (!body.system_fingerprint && !body.service_tier) return undefined;
  const meta: ResponseMeta = {};
  if (body.system_fingerprint) meta.system_fingerprint = body.system_fingerprint;
  if (body.service_tier) meta.service_tier = body.service_tier;
  return meta;
}

const chatResponseSchema = z
  .object({
    model: z.string().optional(),
    choices: z
      .array(
        z
          .object({
            message: z
              .object({
                content: z.string().nullable().optional(),
                reasoning_content: z.string().nullable().optional(),
                reasoning: z.string().nullable().optional(),
                refusal: z.string().nullable().optional(),
                tool_calls: z.array(toolCallSchema).nullable().optional(),
                annotations: z.array(z.unknown()).nullable().optional(),
              })
              .loose(),
            finish_reason: z.string().nullable().optional(),
            logprobs: choiceLogprobsSchema,
          })
          .loose(),
      )
      .min(1),
    usage: openAIUsageSchema.nullable().optional(),
    system_fingerprint: z.string().nullable().optional(),
    service_tier: z.string().nullable().optional(),
  })
  .loose();

export function normalizeOpenAIUsage(u: z.infer<typeof openAIUsageSchema> | null | undefined): Usage {
  if (!u) return { ...EMPTY_USAGE };
  const usage: Usage = {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.total_tokens ?? u.prompt_tokens + u.completion_tokens,
  };
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (cached !== undefined) usage.prompt_tokens_details = { cached_tokens: cached };
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (reasoning !== undefined) usage.completion_tokens_details = { reasoning_tokens: reasoning };
  return usage;
}

type ParsedChoice = z.infer<typeof chatResponseSchema>['choices'][number];

export function parseOpenAIChatResponse(body: unknown, model: string): ChatResult {
  const parsed = chatResponseSchema.parse(body);
  const choice = parsed.choices[0]!;
  const result: ChatResult = {
    message: assistantMessage(choice),
    finish_reason: choice.finish_reason ?? null,
    usage: normalizeOpenAIUsage(parsed.usage),
    model: parsed.model ?? model,
  };
  const logprobs = openAILogprobs(choice.logprobs);
  const meta: ResponseMeta = { ...openAIResponseMeta(parsed), ...(logprobs && { logprobs }) };
  // n > 1: the other choices (OpenAI lists them in index order).
  const more = parsed.choices.slice(1);
  if (more.length) {
    meta.more_choices = more.map((c) => ({
      message: assistantMessage(c),
      finish_reason: c.finish_reason ?? null,
      logprobs: openAILogprobs(c.logprobs) ?? null,
    }));
  }
  if (Object.keys(meta).length) result.meta = meta;
  return result;
}

function assistantMessage(choice: ParsedChoice): AssistantMessage {
  const m = choice.message;
  const message: AssistantMessage = { role: 'assistant', content: m.content ?? null };
  const reasoning = m.reasoning_content ?? m.reasoning;
  if (reasoning) message.reasoning_content = reasoning;
  if (m.refusal) message.refusal = m.refusal;
  if (m.tool_calls?.length) {
    message.tool_calls = m.tool_calls.map((t) => ({ id: t.id, type: 'function', function: t.function }));
  }
  if (m.annotations) message.annotations = m.annotations;
  return message;
}

const embeddingsResponseSchema = z
  .object({
    model: z.string().optional(),
    data: z.array(z.object({ index: z.number(), embedding: z.union([z.array(z.number()), z.string()]) }).loose()),
    usage: z.object({ prompt_tokens: z.number(), total_tokens: z.number().optional() }).loose().optional(),
  })
  .loose();

export function parseOpenAIEmbeddingsResponse(body: unknown, model: string): EmbeddingsResult {
  const parsed = embeddingsResponseSchema.parse(body);
  const prompt = parsed.usage?.prompt_tokens ?? 0;
  return {
    data: parsed.data.map((d) => ({ object: 'embedding', index: d.index, embedding: d.embedding })),
    usage: { prompt_tokens: prompt, total_tokens: parsed.usage?.total_tokens ?? prompt },
    model: parsed.model ?? model,
  };
}
