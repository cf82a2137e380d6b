// The capability matrix: which features each provider is proven to support. Tests claim a cell by
// putting `proves(provider, ...features)` in their name; scripts/gen-capabilities.ts renders the
// claims of passing tests into docs/capabilities.md, and capabilities-doc.test.ts fails when the
// file no longer matches the claims of the tests that exist.
import { BUILTIN_PROVIDERS, getDescriptor } from '../../shared/providers/registry.ts';
import { CHAT_REQUEST_FIELD_NAMES, CONTENT_PART_TYPES, type ChatRequestField } from '../../shared/providers/request-fields.ts';

export const FEATURES = [
  'text',
  'system',
  'multi-turn',
  'streaming',
  'usage in stream',
  'tool calls',
  'parallel tools',
  'streamed tool args',
  'tool_choice',
  'finish reasons',
  'cached tokens',
  'reasoning',
  'vision data URL',
  'vision https URL',
  'JSON mode',
  'JSON schema',
  'embeddings',
  'error mapping',
  'mid-stream errors',
  'retry hints',
  // Response fields beyond text and tools, relayed as OpenAI documents them (recordings included).
  'refusal',
  'logprobs',
  'system_fingerprint',
  'service_tier',
  'annotations',
] as const;
export type Feature = (typeof FEATURES)[number];
// Columns: the built-in providers whose descriptor puts them in the matrix (shared/providers/registry.ts).
export const MATRIX_PROVIDERS: readonly string[] = BUILTIN_PROVIDERS.filter((d) => d.inCapabilityMatrix).map((d) => d.name);

const TAG = /\{proves (\w+): ([^}]+)\}/;

/** The tag a test carries in its name to claim capability cells. */
export function proves(provider: string, ...features: Feature[]): string {
  return `{proves ${provider}: ${features.join(', ')}}`;
}

export function claimsOf(testName: string): Array<[string, Feature]> {
  const m = TAG.exec(testName);
  if (!m) return [];
  return m[2]!.split(',').map((f) => {
    const feature = f.trim() as Feature;
    if (!FEATURES.includes(feature)) throw new Error(`unknown feature '${feature}' in test name: ${testName}`);
    return [m[1]!, feature];
  });
}

// ---- request fields: what each provider does with each OpenAI chat request field ----
/** The matrix providers and a config-declared OpenAI-compatible one (`type: openai-compatible`). */
export const FIELD_COLUMNS: readonly string[] = [...MATRIX_PROVIDERS, 'openai-compatible'];
/** `refused-when`: taken alone, refused in some combinations or values (shown beside the main outcome). */
export const FIELD_OUTCOMES = ['sent', 'translated', 'refused', 'refused-when'] as const;
export type FieldOutcomeClaim = (typeof FIELD_OUTCOMES)[number];
export type FieldClaim = [provider: string, field: ChatRequestField, outcome: FieldOutcomeClaim];

const FIELD_TAG = /\{field ([\w-]+): (\w+) ([\w-]+)\}/;

/** The tag a test carries in its name to claim what `provider` does with `field`. */
export function fieldClaim(provider: string, field: ChatRequestField, outcome: FieldOutcomeClaim): string {
  return `{field ${provider}: ${field} ${outcome}}`;
}

export function fieldClaimsOf(testName: string): FieldClaim[] {
  const m = FIELD_TAG.exec(testName);
  if (!m) return [];
  const [, provider, field, outcome] = m as unknown as [string, string, ChatRequestField, FieldOutcomeClaim];
  if (!CHAT_REQUEST_FIELD_NAMES.includes(field)) throw new Error(`unknown request field '${field}' in test name: ${testName}`);
  if (!FIELD_OUTCOMES.includes(outcome)) throw new Error(`unknown outcome '${outcome}' in test name: ${testName}`);
  return [[provider, field, outcome]];
}

const CELL: Record<Exclude<FieldOutcomeClaim, 'refused-when'>, string> = { sent: 'sent', translated: 'translated', refused: '**400**' };

function renderFieldTable(claims: Iterable<FieldClaim>): string[] {
  const cells = new Map<string, Set<FieldOutcomeClaim>>();
  for (const [provider, field, outcome] of claims) {
    const key = `${field} ${provider}`;
    if (!cells.has(key)) cells.set(key, new Set());
    cells.get(key)!.add(outcome);
  }
  const lines = [
    '',
    '## Chat-completions request fields',
    '',
    'Every field of an OpenAI chat-completions request, per provider, as proven by',
    '`test/conformance/request-fields.test.ts` through the openai SDK: **sent** (the simulator received it',
    "unchanged), **translated** (it received the provider's equivalent, checked field by field) or **400**",
    '(`invalid_request_error`, `code: "unsupported_parameter"`, `param` = the field, nothing sent upstream).',
    '"400 for some values" marks a value or combination the provider refuses although it takes the field. A value that',
    'asks for nothing (`logprobs: false`, `n: 1`, `parallel_tool_calls: true`, `store: false`) is served',
    'everywhere; `n` > 1 works on whole answers only (a stream carries one choice). Content parts are',
    'refused by where they sit (`param`: `messages[i].content[j]`). The reasons and the provider field',
    'each one becomes are declared in `shared/providers/<provider>/request-fields.ts`. With fallbacks, a target that refuses a field is',
    'skipped; the ingress answers 400 only when every target of the route refuses it. `model`, `messages`,',
    '`stream` and `stream_options` are the request itself (the feature table above).',
    '',
    `| field | ${FIELD_COLUMNS.join(' | ')} |`,
    `|---|${FIELD_COLUMNS.map(() => ':-:').join('|')}|`,
  ];
  for (const field of CHAT_REQUEST_FIELD_NAMES) {
    const row = FIELD_COLUMNS.map((p) => {
      const got = cells.get(`${field} ${p}`);
      if (!got) return '—';
      const main = (['refused', 'translated', 'sent'] as const).find((o) => got.has(o));
      const base = main ? CELL[main] : '';
      return got.has('refused-when') && main !== 'refused' ? `${base} (400 for some values)` : base;
    });
    const label = (CONTENT_PART_TYPES as readonly string[]).includes(field) ? `content part \`${field}\`` : field;
    lines.push(`| ${label} | ${row.join(' | ')} |`);
  }
  // What each proven translation becomes upstream, as the provider's table declares it.
  lines.push('', '### What a translated field becomes', '');
  for (const p of FIELD_COLUMNS) {
    const table = getDescriptor(p)?.requestFields;
    const notes = CHAT_REQUEST_FIELD_NAMES.filter((f) => cells.get(`${f} ${p}`)?.has('translated') && table?.[f].note).map(
      (f) => `\`${f}\` → ${table![f].note}`,
    );
    if (notes.length) lines.push(`- **${p}**`, ...notes.map((n) => `  - ${n}`));
  }
  return lines;
}

export function renderCapabilities(claims: Iterable<[string, Feature]>, fieldClaims: Iterable<FieldClaim> = []): string {
  const proven = new Map<string, Set<string>>();
  for (const [provider, feature] of claims) {
    if (!proven.has(feature)) proven.set(feature, new Set());
    proven.get(feature)!.add(provider);
  }
  const lines = [
    '# Provider capabilities',
    '',
    '<!-- Generated by `npm run capabilities` from the tests under test/conformance and test/providers. Do not edit. -->',
    '',
    'Each ✅ is claimed by at least one passing test that drives the feature end to end (OpenAI SDK →',
    'Switchyard → provider simulator speaking the native wire format) or through the adapter on a',
    'hand-written fixture. — means no test proves it (not supported by the provider, or not translated yet).',
    '',
    `| feature | ${MATRIX_PROVIDERS.join(' | ')} |`,
    `|---|${MATRIX_PROVIDERS.map(() => ':-:').join('|')}|`,
  ];
  for (const feature of FEATURES) {
    const row = MATRIX_PROVIDERS.map((p) => (proven.get(feature)?.has(p) ? '✅' : '—'));
    lines.push(`| ${feature} | ${row.join(' | ')} |`);
  }
  lines.push(...renderFieldTable(fieldClaims));
  lines.push('');
  return lines.join('\n');
}
