// The `guardrails:` section of the config file: named content checks, attached globally with
// `default_guardrails:` and per tenant / per key through the admin API (docs/guardrails.md).
import { z } from 'zod';
import { re2js } from './re2.ts';

export const GUARDRAIL_MODES = ['pre_call', 'during_call', 'post_call'] as const;
export type GuardrailMode = (typeof GUARDRAIL_MODES)[number];
export const PII_ENTITIES = ['email', 'phone', 'credit_card', 'iban', 'secret'] as const;
export type PiiEntity = (typeof PII_ENTITIES)[number];

const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const positiveInt = z.number().int().positive();

/** An RE2 pattern: refused at load if RE2 (linear time, no backreferences) cannot compile it. */
const re2Pattern = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    try {
      re2js().RE2JS.compile(p);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a valid RE2 pattern: ${(err as Error).message}` });
    }
  });

const common = {
  name: z.string().regex(NAME, 'must be lowercase letters, digits, _ . - (at most 63 characters)'),
  // One mode or several: a PII masker usually runs on the way in and on the way out.
  mode: z
    .union([z.enum(GUARDRAIL_MODES), z.array(z.enum(GUARDRAIL_MODES)).min(1)])
    .transform((m) => [...new Set(Array.isArray(m) ? m : [m])]),
  on_fail: z.enum(['block', 'mask', 'log']).default('block'),
};

const blocklist = z.strictObject({
  ...common,
  kind: z.literal('blocklist'),
  /** Literal words or phrases, matched case-insensitively. */
  keywords: z.array(z.string().min(1)).default([]),
  /** RE2 regular expressions. */
  patterns: z.array(re2Pattern).default([]),
  /** Streaming hold-back for `patterns` (a keyword's own length is exact): the longest match to expect. */
  max_match_chars: positiveInt.max(4096).default(128),
});

const pii = z.strictObject({
  ...common,
  kind: z.literal('pii'),
  on_fail: z.enum(['block', 'mask', 'log']).default('mask'),
  entities: z
    .array(z.enum(PII_ENTITIES))
    .min(1)
    .default([...PII_ENTITIES]),
  /** Operator patterns: label -> RE2 pattern; a match is masked as `[LABEL]`. */
  patterns: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/, 'a label is lowercase letters, digits, _'), re2Pattern).default({}),
  max_match_chars: positiveInt.max(4096).default(64),
});

const maxInputTokens = z.strictObject({
  ...common,
  kind: z.literal('max_input_tokens'),
  max_tokens: positiveInt,
});

const tools = z.strictObject({
  ...common,
  kind: z.literal('tools'),
  allow: z.array(z.string().min(1)).optional(),
  deny: z.array(z.string().min(1)).default([]),
});

const jsonSchema = z.strictObject({
  ...common,
  kind: z.literal('json_schema'),
  /** Checked against this schema; absent: against the request's `response_format.json_schema.schema`. */
  schema: z.record(z.string(), z.unknown()).optional(),
});

const webhook = z.strictObject({
  ...common,
  kind: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  headers: z.record(z.string(), z.string()).default({}),
  timeout_ms: positiveInt.max(60_000).default(1_000),
  /** What a timeout, an error status or an unreadable answer means: `open` lets the request pass. */
  on_error: z.enum(['open', 'closed']).default('closed'),
});

export const guardrailDefinitionSchema = z
  .discriminatedUnion('kind', [blocklist, pii, maxInputTokens, tools, jsonSchema, webhook], {
    error: () => 'unknown guardrail kind (expected one of: blocklist, pii, max_input_tokens, tools, json_schema, webhook)',
  })
  .superRefine((g, ctx) => {
    const inputOnly = g.kind === 'max_input_tokens';
    const outputOnly = g.kind === 'json_schema';
    if (inputOnly && g.mode.includes('post_call'))
      ctx.addIssue({ code: 'custom', path: ['mode'], message: 'max_input_tokens checks the request: pre_call or during_call' });
    if (outputOnly && g.mode.some((m) => m !== 'post_call'))
      ctx.addIssue({ code: 'custom', path: ['mode'], message: 'json_schema checks the answer: post_call only' });
    if (g.on_fail === 'mask' && (g.kind === 'max_input_tokens' || g.kind === 'tools' || g.kind === 'json_schema'))
      ctx.addIssue({ code: 'custom', path: ['on_fail'], message: `${g.kind} cannot mask: use block or log` });
    if (g.kind === 'blocklist' && g.keywords.length === 0 && g.patterns.length === 0)
      ctx.addIssue({ code: 'custom', path: ['keywords'], message: 'a blocklist needs keywords or patterns' });
  });

export type GuardrailDefinition = z.output<typeof guardrailDefinitionSchema>;

/** The whole section; names are unique and `default_guardrails` must name defined guardrails. */
export function guardrailsSectionSchema() {
  return z.array(guardrailDefinitionSchema).superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((g, i) => {
      if (seen.has(g.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate guardrail name '${g.name}'` });
      seen.add(g.name);
    });
  });
}
