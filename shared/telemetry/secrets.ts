// Upstream keys must never reach a client or a log. Upstreams quote the key they were sent in error
// bodies ("Incorrect API key provided: sk-..."), and those bodies become our error messages, so every
// upstream text is scrubbed before it leaves the worker, and every log line before it is written.
import type { SwitchyardConfig } from '../config/env.ts';
import type { ErrorBody } from '../protocol/errors.ts';

export const REDACTED = '[redacted]';

/**
 * Token shapes of the providers we talk to and of our own keys: OpenAI/Anthropic `sk-...`, Gemini
 * `AIza...`, xAI `xai-...`, Groq `gsk_...`, Switchyard `sy-...`, and `Bearer <token>` where the token
 * is long or has a digit (so "Bearer authentication" in an error text stays readable).
 */
const TOKEN_SHAPES =
  /\b(?:sk-[A-Za-z0-9_-]{6,}|AIza[A-Za-z0-9_-]{20,}|xai-[A-Za-z0-9_-]{10,}|gsk_[A-Za-z0-9_-]{10,}|sy-[A-Za-z0-9_-]{20,})|\bBearer\s+(?:[A-Za-z0-9._~+/=-]{20,}|(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{6,})/gi;

/** Shorter configured values are not scrubbed by value: a 3-letter "key" would erase ordinary words. */
const MIN_SECRET_LENGTH = 6;

const known = new Set<string>();
let knownPattern: RegExp | null = null;

/** Adds values that must never appear in output (idempotent). */
export function registerSecrets(values: Iterable<string | undefined | null>): void {
  let added = false;
  for (const v of values) {
    if (!v || v.length < MIN_SECRET_LENGTH || known.has(v)) continue;
    known.add(v);
    added = true;
  }
  if (!added) return;
  // Longest first, so a key that contains another key is removed whole.
  const escaped = [...known].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));
  knownPattern = new RegExp(escaped.join('|'), 'g');
}

/** Every upstream key of every provider: from the environment and from the config file's api_keys. */
export function upstreamSecrets(config: Pick<SwitchyardConfig, 'providers' | 'file'>): string[] {
  const out: string[] = [];
  for (const p of Object.values(config.providers)) if (p.apiKey) out.push(p.apiKey);
  for (const p of Object.values(config.file?.providers ?? {})) for (const k of p?.api_keys ?? []) out.push(k.key);
  return out;
}

export function registerUpstreamSecrets(config: Pick<SwitchyardConfig, 'providers' | 'file'>): void {
  registerSecrets(upstreamSecrets(config));
}

/** `text` with configured keys and key-shaped tokens replaced by `[redacted]`. */
export function scrubSecrets(text: string): string {
  let out = knownPattern ? text.replace(knownPattern, REDACTED) : text;
  out = out.replace(TOKEN_SHAPES, (m) => (/^bearer/i.test(m) ? `Bearer ${REDACTED}` : REDACTED));
  return out;
}

/** The error envelope with its free-text fields scrubbed. */
export function scrubErrorBody(error: ErrorBody): ErrorBody {
  const out = { ...error, message: scrubSecrets(error.message) };
  if (typeof out.param === 'string') out.param = scrubSecrets(out.param);
  if (typeof out.code === 'string') out.code = scrubSecrets(out.code);
  return out;
}
