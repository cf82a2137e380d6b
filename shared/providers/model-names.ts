// Model names are data, never paths. A client's model string ends up in an upstream URL (Gemini) or
// in NATS headers, so it is checked against the characters real model ids use before it goes
// anywhere: `gemini/../../x#` would otherwise make the Gemini adapter call another path with the
// operator's key, and CR/LF would break the NATS headers (a 503 instead of the caller's 400).

export const MAX_MODEL_NAME_LENGTH = 256;

const SEGMENT = '[A-Za-z0-9._:-]+';
/** Ids with a namespace: Groq `meta-llama/llama-4-scout-17b-16e-instruct`, Ollama `hf.co/user/repo:tag`, OpenAI-compatible servers. */
const NAMESPACED = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);
/** Ids without one: Anthropic `claude-sonnet-4-5`, xAI `grok-3-mini`. */
const FLAT = new RegExp(`^${SEGMENT}$`);
/** Gemini puts the id in the URL before `:method`, so no colon; `models/` may prefix it. */
const GEMINI = /^(?:models\/)?[A-Za-z0-9._-]+$/;

const PATTERNS: Record<string, { re: RegExp; allowed: string }> = {
  openai: { re: NAMESPACED, allowed: 'letters, digits, . _ : - and /' },
  groq: { re: NAMESPACED, allowed: 'letters, digits, . _ : - and /' },
  ollama: { re: NAMESPACED, allowed: 'letters, digits, . _ : - and /' },
  anthropic: { re: FLAT, allowed: 'letters, digits and . _ : -' },
  xai: { re: FLAT, allowed: 'letters, digits and . _ : -' },
  gemini: { re: GEMINI, allowed: "letters, digits and . _ - (optionally after 'models/')" },
};

const ANY = { re: NAMESPACED, allowed: 'letters, digits, . _ : - and /' };

/**
 * Why `model` cannot be an upstream model id of `provider`, or null when it can. Without a provider:
 * why it cannot be a public model name (`<provider>/<id>` or a bare id) of any provider.
 */
export function modelNameProblem(provider: string | null, model: string): string | null {
  if (model.length === 0) return 'the model name is empty';
  if (model.length > MAX_MODEL_NAME_LENGTH) return `model names are at most ${MAX_MODEL_NAME_LENGTH} characters`;
  const rule = provider === null ? ANY : (PATTERNS[provider] ?? ANY);
  const who = provider === null ? 'model' : `${provider} model`;
  // `..` is built from allowed characters but is a path step, and no real model id contains it.
  if (!rule.re.test(model) || model.includes('..')) return `${who} names may contain only ${rule.allowed} (no '..', no empty segments)`;
  return null;
}
