// The YAML config file named by SWITCHYARD_CONFIG: upstream keys per provider, model aliases with
// ordered or weighted targets, and price overrides. Strings may use `${ENV}` / `${ENV:-default}`
// (`$${` is a literal `${`). Every error names the file, line and column of the offending node, so a
// typo in a 300-line file is found without bisecting it.
import { readFileSync } from 'node:fs';
import type { Document, Node } from 'yaml';
import { z } from 'zod';
import type { ProviderName } from './env.ts';
import { BUILTIN_PROVIDER_NAMES, isBuiltinProvider, PROVIDER_TYPES, type ProviderType } from '../providers/registry.ts';
import { PriceBook, type ModelPrice } from './prices.ts';
import { modelNameProblem } from '../providers/model-names.ts';
import { guardrailsSectionSchema, type GuardrailDefinition } from '../guardrails/definitions.ts';
import { lazyRequire } from '../runtime/lazy-require.ts';

// The YAML parser is loaded on the first parse: most processes run without a config file.
const yaml = lazyRequire<typeof import('yaml')>(import.meta.url, 'yaml');

export interface UpstreamKey {
  key: string;
  weight: number;
  rpm?: number;
  tpm?: number;
}

export interface ProviderFileConfig {
  /** Set only on a provider the file declares (not a built-in one): the wire format it speaks. */
  type?: ProviderType;
  base_url?: string;
  api_keys: UpstreamKey[];
  /** A declared provider's models, listed by GET /v1/models (any other name still routes). */
  models?: string[];
  /** A declared provider whose every key was `${VAR}` with VAR unset: kept, but not configured. */
  keysUnset?: boolean;
}

export interface Target {
  provider: ProviderName;
  /** Upstream model name, provider prefix stripped. */
  model: string;
  weight: number;
}

export interface ModelAlias {
  strategy: 'ordered' | 'weighted';
  targets: Target[];
}

export interface FileConfig {
  providers: Record<ProviderName, ProviderFileConfig>;
  models: Record<string, ModelAlias>;
  prices: Record<string, ModelPrice>;
  /** Upstream keys and providers left out because their key's env var is unset (logged at start). */
  skipped?: string[];
  /** Remote image fetching for Gemini/Ollama (shared/providers/common/remote-images.ts); absent: defaults. */
  images?: ImagesFileConfig;
  /** Content guardrails by definition (shared/guardrails, docs/guardrails.md); absent: none. */
  guardrails?: GuardrailDefinition[];
  /** Guardrail names attached to every request, before the tenant's and the key's own. */
  default_guardrails?: string[];
}

export interface ImagesFileConfig {
  allow_hosts: string[];
  allow_private: boolean;
  max_remote_images?: number;
  max_total_bytes?: number;
  max_image_bytes?: number;
  timeout_ms?: number;
}

export interface ConfigIssue {
  /** Dotted path into the document, e.g. `models.fast.targets[0].model`. */
  path: string;
  line: number;
  col: number;
  message: string;
}

export class ConfigFileError extends Error {
  readonly source: string;
  readonly issues: ConfigIssue[];
  constructor(source: string, issues: ConfigIssue[], lines: string[]) {
    const text = issues.map((i) => {
      const where = i.path ? `${i.path}: ` : '';
      const src = lines[i.line - 1];
      const frame = src === undefined ? '' : `\n  ${String(i.line).padStart(4)} | ${src}\n       | ${' '.repeat(Math.max(0, i.col - 1))}^`;
      return `${source}:${i.line}:${i.col}: ${where}${i.message}${frame}`;
    });
    super(`invalid config file ${source}:\n${text.join('\n')}`);
    this.name = 'ConfigFileError';
    this.source = source;
    this.issues = issues;
  }
}

// ---- schema ----

const PROVIDER_LIST = BUILTIN_PROVIDER_NAMES.join(', ');
/** A name the file may declare a provider under: it becomes a NATS subject token and a model prefix. */
const DECLARED_PROVIDER_NAME = /^[a-z][a-z0-9_-]*$/;
// `constructor`, `toString`...: names every plain object already has would alias a lookup table's prototype.
const isDeclarableName = (n: string) => DECLARED_PROVIDER_NAME.test(n) && !(n in Object.prototype);
const TYPE_LIST = PROVIDER_TYPES.join(', ');

const positiveInt = z.number().int().positive();
const usdPerMillion = z.number().nonnegative().finite();
const qualifiedModel = (isProvider: (p: string) => boolean) =>
  z
    .string()
    .regex(/^[a-z][a-z0-9_-]*\/\S+$/, { message: "must be '<provider>/<model>', e.g. 'openai/gpt-4o-mini'", abort: true })
    .refine((s) => isProvider(s.slice(0, s.indexOf('/'))), { message: `unknown provider (expected one of: ${PROVIDER_LIST})`, abort: true })
    // The same rule the ingress applies to clients' model names: a typo'd target fails at start, not per request.
    .superRefine((s, ctx) => {
      const problem = modelNameProblem(s.slice(0, s.indexOf('/')), s.slice(s.indexOf('/') + 1));
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

const upstreamKeySchema = z.preprocess(
  // A bare string is shorthand for `{key: <string>}`.
  (v) => (typeof v === 'string' ? { key: v } : v),
  z.strictObject({
    key: z.string().min(1, 'must not be empty'),
    weight: z.number().positive().finite().default(1),
    rpm: positiveInt.optional(),
    tpm: positiveInt.optional(),
  }),
);

const baseUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''));

const providerSchema = z.strictObject({
  base_url: baseUrl.optional(),
  // Optional because Ollama needs no key.
  api_keys: z.array(upstreamKeySchema).default([]),
});

/** A provider the file declares under a new name: no code, one of the wire formats Switchyard speaks. */
const declaredProviderSchema = z.strictObject({
  type: z.enum(PROVIDER_TYPES, {
    error: (iss) => `unknown provider type '${String(iss.input)}' (expected one of: ${TYPE_LIST})`,
  }),
  base_url: baseUrl,
  api_keys: z.array(upstreamKeySchema).default([]),
  models: z
    .array(
      z.string().superRefine((m, ctx) => {
        const problem = modelNameProblem('openai', m);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    )
    .optional(),
});

const targetSchema = (isProvider: (p: string) => boolean) =>
  z
    .strictObject({ model: qualifiedModel(isProvider), weight: z.number().positive().finite().optional() })
    .transform((t): Target & { weightGiven: boolean } => {
      const slash = t.model.indexOf('/');
      return {
        provider: t.model.slice(0, slash) as ProviderName,
        model: t.model.slice(slash + 1),
        weight: t.weight ?? 1,
        weightGiven: t.weight !== undefined,
      };
    });

const aliasSchema = (isProvider: (p: string) => boolean) =>
  z
    .strictObject({
      targets: z.array(targetSchema(isProvider)).min(1, 'needs at least one target'),
      strategy: z.enum(['ordered', 'weighted']).default('ordered'),
    })
    .transform((a, ctx): ModelAlias => {
      if (a.strategy === 'ordered') {
        // A weight here would be silently ignored; more likely `strategy: weighted` was forgotten.
        a.targets.forEach((t, i) => {
          if (t.weightGiven)
            ctx.addIssue({ code: 'custom', path: ['targets', i, 'weight'], message: "only applies with 'strategy: weighted'" });
        });
      }
      return { strategy: a.strategy, targets: a.targets.map(({ weightGiven: _w, ...t }) => t) };
    });

const aliasName = (isProvider: (p: string) => boolean) =>
  z
    .string()
    .regex(/^\S+$/, 'an alias name may not be empty or contain whitespace')
    // `<provider>/<model>` always routes directly (public contract), so an alias may not shadow it.
    .refine((a) => !isProvider(a.slice(0, a.indexOf('/'))), { message: 'an alias may not start with a provider name and a slash' });

const imagesSchema = z.strictObject({
  allow_hosts: z
    .array(
      z
        .string()
        .regex(/^(\*\.)?[A-Za-z0-9.:[\]-]+$/, "must be a host name, '*.<domain>' or an IP address (no scheme or port)")
        .transform((h) => h.toLowerCase().replace(/^\[|\]$/g, '')),
    )
    .default([]),
  allow_private: z.boolean().default(false),
  max_remote_images: positiveInt.optional(),
  max_total_bytes: positiveInt.optional(),
  max_image_bytes: positiveInt.optional(),
  timeout_ms: positiveInt.optional(),
});

/**
 * The schema of one document: which provider names exist depends on the `providers` it declares,
 * and aliases and prices may name those providers too.
 */
function fileSchemaFor(raw: unknown) {
  const providerMap = (raw as { providers?: unknown } | null)?.providers;
  const declared =
    providerMap && typeof providerMap === 'object'
      ? Object.entries(providerMap as Record<string, unknown>)
          // Without a `type` it is more likely a typo of a built-in name: reported as an unknown provider.
          .filter(([n, p]) => !isBuiltinProvider(n) && isDeclarableName(n) && typeof p === 'object' && p !== null && 'type' in p)
          .map(([n]) => n)
      : [];
  const isProvider = (p: string) => isBuiltinProvider(p) || declared.includes(p);
  const providersShape: Record<string, z.ZodOptional<typeof providerSchema> | z.ZodOptional<typeof declaredProviderSchema>> = {};
  for (const name of BUILTIN_PROVIDER_NAMES) providersShape[name] = providerSchema.optional();
  for (const name of declared) providersShape[name] = declaredProviderSchema.optional();
  return z
    .strictObject({
      providers: z.strictObject(providersShape).nullable().default({}),
      models: z.record(aliasName(isProvider), aliasSchema(isProvider)).nullable().default({}),
      prices: z
        .record(
          qualifiedModel(isProvider),
          z.strictObject({ input: usdPerMillion, cached_input: usdPerMillion.optional(), output: usdPerMillion }),
        )
        .nullable()
        .default({}),
      images: imagesSchema.optional(),
      guardrails: guardrailsSectionSchema().nullable().optional(),
      default_guardrails: z.array(z.string()).nullable().optional(),
    })
    .superRefine((c, ctx) => {
      // A default that names nothing would silently check nothing.
      const defined = new Set((c.guardrails ?? []).map((g) => g.name));
      (c.default_guardrails ?? []).forEach((name, i) => {
        if (!defined.has(name))
          ctx.addIssue({
            code: 'custom',
            path: ['default_guardrails', i],
            message: `no guardrail named '${name}' is defined under 'guardrails'`,
          });
      });
    });
}

// ---- loading ----

export interface ParseOptions {
  /** Name used in error messages (the file path). */
  source?: string;
  env?: NodeJS.ProcessEnv;
}

/** Reads `path`, else `env.SWITCHYARD_CONFIG`; null when neither names a file. Throws ConfigFileError. */
export function loadConfigFile(path?: string, env: NodeJS.ProcessEnv = process.env): FileConfig | null {
  path ||= env.SWITCHYARD_CONFIG;
  if (!path) return null;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config file ${path} (SWITCHYARD_CONFIG): ${(err as Error).message}`, { cause: err });
  }
  return parseConfigFile(text, { source: path, env });
}

export function parseConfigFile(text: string, opts: ParseOptions = {}): FileConfig {
  const { LineCounter, parseDocument } = yaml();
  const source = opts.source ?? '<config>';
  const env = opts.env ?? process.env;
  const lines = text.split(/\r?\n/);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false });
  const posOf = (node: Node | null | undefined): { line: number; col: number } => {
    const offset = node?.range?.[0];
    if (offset === undefined) return { line: 1, col: 1 };
    return lineCounter.linePos(offset);
  };

  if (doc.errors.length > 0) {
    // Only the first syntax error: the ones after it are mostly the parser losing its footing.
    const e = doc.errors[0]!;
    throw new ConfigFileError(source, [{ path: '', ...lineCounter.linePos(e.pos[0]), message: e.message }], lines);
  }

  const { notes: skipped, keyless } = dropUnsetKeys(doc, env);
  const interpolationIssues = interpolate(doc, env, posOf);
  if (interpolationIssues.length > 0) throw new ConfigFileError(source, interpolationIssues, lines);

  const raw: unknown = doc.toJS({ maxAliasCount: 1_000 }) ?? {};
  const parsed = fileSchemaFor(raw).safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      let path = issue.path;
      let message = issue.message;
      let atKey = false;
      if (issue.code === 'unrecognized_keys') {
        // Point at the unknown key itself, not at the start of its parent map.
        path = [...path, issue.keys[0]!];
        atKey = true;
        message =
          issue.path.length === 1 && issue.path[0] === 'providers'
            ? `unknown provider '${issue.keys[0]}' (expected one of: ${PROVIDER_LIST}, or a lowercase name with 'type: openai-compatible')`
            : `unknown field '${issue.keys[0]}'`;
      } else if (issue.code === 'invalid_key') {
        atKey = true;
        message = `invalid key: ${issue.issues[0]?.message ?? issue.message}`;
      }
      const { node, exact } = nodeAt(doc, path, atKey);
      // A missing field is reported at its parent, so say which field is missing.
      if (!exact && issue.code === 'invalid_type' && issue.input === undefined) message = `missing required field`;
      return { path: formatPath(path), ...posOf(node), message };
    });
    throw new ConfigFileError(source, issues, lines);
  }
  const c = parsed.data;
  const providers = (c.providers ?? {}) as FileConfig['providers'];
  for (const name of keyless) if (providers[name]) providers[name].keysUnset = true;
  return {
    providers,
    models: c.models ?? {},
    prices: c.prices ?? {},
    ...(skipped.length ? { skipped } : {}),
    ...(c.images ? { images: c.images } : {}),
    ...(c.guardrails?.length ? { guardrails: c.guardrails } : {}),
    ...(c.default_guardrails?.length ? { default_guardrails: c.default_guardrails } : {}),
  };
}

/**
 * An upstream key given as `${VAR}` (no default) with VAR unset or empty is left out instead of
 * failing the load, so one file serves whichever providers have keys; a built-in provider whose every
 * key is left out is left out too. A declared one stays (aliases and prices may name it) but is not
 * configured: `keyless`. Returns one note per omission.
 */
function dropUnsetKeys(doc: Document, env: NodeJS.ProcessEnv): { notes: string[]; keyless: string[] } {
  const { isMap, isScalar, isSeq } = yaml();
  const notes: string[] = [];
  const keyless: string[] = [];
  const providers = isMap(doc.contents) ? doc.contents.get('providers', true) : null;
  if (!isMap(providers)) return { notes, keyless };
  for (const pair of [...providers.items]) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    const keys = isMap(pair.value) ? pair.value.get('api_keys', true) : null;
    if (!isSeq(keys) || keys.items.length === 0) continue;
    const unset: string[] = [];
    keys.items = keys.items.filter((item, i) => {
      const keyNode = isMap(item) ? item.get('key', true) : item;
      const missing = isScalar(keyNode) && typeof keyNode.value === 'string' ? unsetReference(keyNode.value, env) : null;
      if (missing) {
        unset.push(missing);
        notes.push(`config: providers.${name}.api_keys[${i}] skipped: ${missing} is not set`);
      }
      return !missing;
    });
    if (keys.items.length === 0 && isMap(pair.value) && pair.value.has('type') && !isBuiltinProvider(name)) {
      keyless.push(name);
      notes.push(
        `config: provider ${name} not configured: ${unset.join(', ')} not set (requests to it answer 503 provider_not_configured)`,
      );
    } else if (keys.items.length === 0) {
      providers.items.splice(providers.items.indexOf(pair), 1);
      notes.push(`config: provider ${name} skipped: ${unset.join(', ')} not set`);
    }
  }
  return { notes, keyless };
}

/** The first `${VAR}` without a default in `value` whose VAR is unset or empty, else null. */
function unsetReference(value: string, env: NodeJS.ProcessEnv): string | null {
  for (const m of value.matchAll(ENV_REF)) {
    if (m[0] === '$${' || m[2] !== undefined) continue;
    if (!env[m[1]!]) return m[1]!;
  }
  return null;
}

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${NAME}` / `${NAME:-default}` in every string value (not in keys), in place. */
function interpolate(doc: Document, env: NodeJS.ProcessEnv, posOf: (n: Node) => { line: number; col: number }): ConfigIssue[] {
  const { Scalar, visit } = yaml();
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const raw = node.value;
      let missing: string | null = null;
      const out = raw.replace(ENV_REF, (m: string, name: string | undefined, def: string | undefined) => {
        if (m === '$${') return '${';
        const v = env[name!];
        if (v !== undefined && !(def !== undefined && v === '')) return v;
        if (def !== undefined) return def;
        missing ??= name!;
        return '';
      });
      if (missing) {
        issues.push({
          path: '',
          ...posOf(node),
          message: `environment variable ${missing} is not set (use \${${missing}:-default} for a fallback)`,
        });
        return;
      }
      // An unquoted `${VAR}` standing alone takes the type its value has (`rpm: ${RPM}` is a number);
      // a quoted one stays a string.
      const numeric = node.type === Scalar.PLAIN && /^\$\{[^}]+\}$/.test(raw) && /^-?\d+(\.\d+)?$/.test(out);
      node.value = numeric ? Number(out) : out;
    },
  });
  return issues;
}

/** The node a zod path points at, or its deepest existing ancestor (exact: false). */
function nodeAt(doc: Document, path: readonly PropertyKey[], atKey = false): { node: Node | null; exact: boolean } {
  const { isAlias, isMap, isPair, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  for (const [i, seg] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      // An empty value has no useful position of its own: point at its key.
      if (pair) next = atKey && i === path.length - 1 ? pair.key : (pair.value ?? pair.key);
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
    }
    if (next === undefined || next === null) return { node: (node as Node | null) ?? null, exact: false };
    node = next;
  }
  return { node: node as Node, exact: true };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

// ---- helpers for the rest of Switchyard ----

/**
 * The targets of an alias in the order to try them, or null when `model` is not an alias.
 * `ordered`: as listed (first is primary, the rest are fallbacks). `weighted`: a weighted random
 * order — the first target is drawn with probability weight/total, each later one likewise from
 * those left — so fallbacks still cover every target.
 */
export function resolveAlias(config: FileConfig, model: string, random: () => number = Math.random): Target[] | null {
  // hasOwn: an alias lookup must not find `constructor` or `__proto__` on the prototype.
  if (!Object.hasOwn(config.models, model)) return null;
  const alias = config.models[model]!;
  if (alias.strategy === 'ordered' || alias.targets.length < 2) return alias.targets.map((t) => ({ ...t }));
  const left = alias.targets.map((t) => ({ ...t }));
  const out: Target[] = [];
  while (left.length > 0) {
    const total = left.reduce((s, t) => s + t.weight, 0);
    let r = random() * total;
    let i = 0;
    while (i < left.length - 1 && r >= left[i]!.weight) r -= left[i++]!.weight;
    out.push(left.splice(i, 1)[0]!);
  }
  return out;
}

/** The file's prices, in the shape PriceBook takes as overrides. */
export function priceOverrides(config: FileConfig): Record<string, ModelPrice> {
  return { ...config.prices };
}

/** A PriceBook with the built-in defaults overridden and extended by the file's prices. */
export function priceBookFromConfig(config: FileConfig | null): PriceBook {
  return new PriceBook(config ? priceOverrides(config) : {});
}
