// The characters real model ids use, per id style. Kept apart from ../model-names.ts so provider
// descriptors can name their rule without importing the registry back.

export interface ModelNameRule {
  re: RegExp;
  /** Said in the 400 when a name breaks the rule. */
  allowed: string;
}

const SEGMENT = '[A-Za-z0-9._:-]+';

/** Ids with a namespace: Groq `meta-llama/llama-4-scout-17b-16e-instruct`, Ollama `hf.co/user/repo:tag`, OpenAI-compatible servers. */
export const NAMESPACED_MODEL_NAMES: ModelNameRule = {
  re: new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`),
  allowed: 'letters, digits, . _ : - and /',
};

/** Ids without one: Anthropic `claude-sonnet-4-5`, xAI `grok-3-mini`. */
export const FLAT_MODEL_NAMES: ModelNameRule = {
  re: new RegExp(`^${SEGMENT}$`),
  allowed: 'letters, digits and . _ : -',
};

/** Gemini puts the id in the URL before `:method`, so no colon; `models/` may prefix it. */
export const GEMINI_MODEL_NAMES: ModelNameRule = {
  re: /^(?:models\/)?[A-Za-z0-9._-]+$/,
  allowed: "letters, digits and . _ - (optionally after 'models/')",
};
