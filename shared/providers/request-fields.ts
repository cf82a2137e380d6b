// Every field of an OpenAI chat-completions request and what each provider does with it: sent as is,
// translated to the provider's equivalent, or refused with a 400 `unsupported_parameter` naming the
// field and the provider. Nothing is dropped without a word. Each provider declares its table in its
// descriptor (`requestFields`); a table is a Record over CHAT_REQUEST_FIELDS, so a field added here
// does not compile until every provider has said what it does with it.
//
// `model`, `messages`, `stream` and `stream_options` are the request itself (every adapter carries
// them; the feature matrix in docs/capabilities.md proves it) and are not listed.
import { errors, type ApiError } from '../protocol/errors.ts';
import type { ChatCompletionRequest } from '../protocol/openai.ts';
import type { RouteTarget } from '../protocol/targets.ts';
import { AdapterError, type ProviderAdapter } from './types.ts';

const isSet = (v: unknown) => v !== undefined && v !== null;
const nonEmpty = (v: unknown) => isSet(v) && (typeof v !== 'object' || Object.keys(v).length > 0) && v !== '';

/**
 * When a field asks the upstream for something. A value equal to the default (`logprobs: false`,
 * `n: 1`, `parallel_tool_calls: true`) asks nothing, so a provider without the feature serves it.
 */
export const CHAT_REQUEST_FIELDS = {
  audio: isSet,
  frequency_penalty: (v: unknown) => isSet(v) && v !== 0,
  function_call: isSet,
  functions: nonEmpty,
  logit_bias: nonEmpty,
  logprobs: (v: unknown) => v === true,
  max_completion_tokens: isSet,
  max_tokens: isSet,
  metadata: nonEmpty,
  modalities: (v: unknown) => Array.isArray(v) && v.includes('audio'),
  moderation: isSet,
  n: (v: unknown) => isSet(v) && v !== 1,
  parallel_tool_calls: (v: unknown) => v === false,
  prediction: isSet,
  presence_penalty: (v: unknown) => isSet(v) && v !== 0,
  prompt_cache_key: nonEmpty,
  prompt_cache_options: nonEmpty,
  prompt_cache_retention: isSet,
  reasoning_effort: isSet,
  response_format: (v: unknown) => isSet(v) && (v as { type?: unknown }).type !== 'text',
  safety_identifier: nonEmpty,
  seed: isSet,
  service_tier: (v: unknown) => isSet(v) && v !== 'auto',
  stop: nonEmpty,
  store: (v: unknown) => v === true,
  temperature: isSet,
  tool_choice: isSet,
  tools: nonEmpty,
  top_logprobs: (v: unknown) => isSet(v) && v !== 0,
  top_p: isSet,
  user: nonEmpty,
  verbosity: isSet,
  web_search_options: isSet,
} satisfies Record<string, (value: unknown) => boolean>;

/**
 * Message content parts beyond `text` and `image_url` (which every provider takes): each is a row of
 * the table too, refused by `messages[i].content[j]` where a provider has no equivalent.
 */
export const CONTENT_PART_TYPES = ['input_audio', 'file'] as const;
export type ContentPartType = (typeof CONTENT_PART_TYPES)[number];

export type ChatRequestField = keyof typeof CHAT_REQUEST_FIELDS | ContentPartType;
export const CHAT_REQUEST_FIELD_NAMES = [...Object.keys(CHAT_REQUEST_FIELDS), ...CONTENT_PART_TYPES] as ChatRequestField[];

export type FieldOutcome = 'sent' | 'translated' | 'refused';

export interface FieldRule {
  outcome: FieldOutcome;
  /** Why it is refused, or what it becomes upstream (shown in docs/capabilities.md). */
  note?: string;
  /** A sent or translated field the provider still cannot take in this request: the reason, or null. */
  refuseWhen?: (req: ChatCompletionRequest) => string | null;
}

export type RequestFieldTable = Record<ChatRequestField, FieldRule>;

export const sent: FieldRule = { outcome: 'sent' };
export const translated = (note: string, refuseWhen?: FieldRule['refuseWhen']): FieldRule => ({ outcome: 'translated', note, refuseWhen });
export const refused = (note: string): FieldRule => ({ outcome: 'refused', note });

/** Streams relay one choice (stream translators follow choice 0); `n` > 1 works on whole answers. */
const oneChoiceStreams = (req: ChatCompletionRequest) => (req.stream ? 'a streamed answer carries one choice; use stream: false' : null);
export const sentUnlessStreamed: FieldRule = { outcome: 'sent', refuseWhen: oneChoiceStreams };
export const translatedUnlessStreamed = (note: string): FieldRule => translated(note, oneChoiceStreams);

/**
 * Refused for every provider: audio output and the deprecated `functions` answer
 * (`message.function_call`) would reach the client without the part that was asked for.
 */
export const NOT_RELAYED = {
  audio: refused('audio output is not relayed by Switchyard'),
  modalities: refused('audio output is not relayed by Switchyard'),
  functions: refused('deprecated; use tools'),
  function_call: refused('deprecated; use tool_choice'),
} satisfies Partial<RequestFieldTable>;

/** An OpenAI-compatible upstream takes the body as the client sent it. */
export const FORWARDED_AS_IS: RequestFieldTable = {
  ...Object.fromEntries(CHAT_REQUEST_FIELD_NAMES.map((f) => [f, sent])),
  ...NOT_RELAYED,
  n: sentUnlessStreamed,
} as RequestFieldTable;

/** The first field `req` asks for that `provider` refuses, as the 400 to return; null when it can serve it all. */
export function unsupportedField(provider: string, table: RequestFieldTable, req: ChatCompletionRequest): ApiError | null {
  // The body's own keys (a handful) rather than the whole catalog: a plain request costs a few lookups.
  for (const key of Object.keys(req)) {
    if (!Object.hasOwn(CHAT_REQUEST_FIELDS, key)) continue;
    const field = key as keyof typeof CHAT_REQUEST_FIELDS;
    const value = (req as Record<string, unknown>)[field];
    if (!CHAT_REQUEST_FIELDS[field](value)) continue;
    const rule = table[field];
    if (rule.outcome === 'refused') return errors.unsupportedParameter(provider, field, rule.note ?? 'no equivalent');
    const reason = rule.refuseWhen?.(req);
    if (reason) return errors.unsupportedParameter(provider, field, reason);
  }
  return unsupportedContentPart(provider, table, req);
}

function unsupportedContentPart(provider: string, table: RequestFieldTable, req: ChatCompletionRequest): ApiError | null {
  const messages = req.messages as ReadonlyArray<{ content?: unknown }> | undefined;
  if (!messages) return null;
  for (let i = 0; i < messages.length; i++) {
    const content = messages[i]!.content;
    if (!Array.isArray(content)) continue; // a string: the common case costs one check per message
    for (let j = 0; j < content.length; j++) {
      const type = (content[j] as { type?: unknown } | null)?.type;
      if (type !== 'input_audio' && type !== 'file') continue;
      const rule = table[type];
      if (rule.outcome === 'refused')
        return errors.unsupportedParameter(provider, `messages[${i}].content[${j}]`, `${type} parts: ${rule.note ?? 'no equivalent'}`);
    }
  }
  return null;
}

/**
 * The ingress check, before queueing: a route is servable when at least one of its targets takes
 * every field the request asks for (the worker skips the targets that refuse, see withRequestFieldCheck).
 * Throws the first target's refusal when none can.
 */
export function assertFieldsServable(
  req: ChatCompletionRequest,
  targets: readonly RouteTarget[],
  tableOf: (provider: string) => RequestFieldTable | undefined,
): void {
  let first: ApiError | null = null;
  for (const t of targets) {
    const table = tableOf(t.provider);
    const refusal = table ? unsupportedField(t.provider, table, req) : null;
    if (!refusal) return;
    first ??= refusal;
  }
  if (first) throw first;
}

/**
 * The same check inside the worker, for every target it tries (fallbacks included, and requests that
 * never passed the ingress check: batches, async work). A refusal fails that target with the 400;
 * services/worker/fallback.ts moves on to the next target, as another provider may take the field.
 */
export function withRequestFieldCheck(adapter: ProviderAdapter, table: RequestFieldTable): ProviderAdapter {
  return {
    ...adapter,
    buildChatRequest(endpoint, model, req, stream, opts) {
      const refusal = unsupportedField(adapter.name, table, req);
      if (refusal) throw AdapterError.from(refusal);
      return adapter.buildChatRequest(endpoint, model, req, stream, opts);
    },
  };
}

/** Our own refusal, or an upstream's 400 of the same code: the field may work on another target. */
export function isUnsupportedParameter(code: string | null): boolean {
  return code === 'unsupported_parameter';
}
