// Model names are data, never paths. A client's model string ends up in an upstream URL (Gemini) or
// in NATS headers, so it is checked against the characters real model ids use before it goes
// anywhere: `gemini/../../x#` would otherwise make the Gemini adapter call another path with the
// operator's key, and CR/LF would break the NATS headers (a 503 instead of the caller's 400).

import { NAMESPACED_MODEL_NAMES } from './common/model-name-rules.ts';
import { getDescriptor } from './registry.ts';

export const MAX_MODEL_NAME_LENGTH = 256;

// Without a provider, and for providers the config file declares (OpenAI-compatible): OpenAI's rule.
const ANY = NAMESPACED_MODEL_NAMES;

/**
 * Why `model` cannot be an upstream model id of `provider`, or null when it can. Without a provider:
 * why it cannot be a public model name (`<provider>/<id>` or a bare id) of any provider.
 */
export function modelNameProblem(provider: string | null, model: string): string | null {
  if (model.length === 0) return 'the model name is empty';
  if (model.length > MAX_MODEL_NAME_LENGTH) return `model names are at most ${MAX_MODEL_NAME_LENGTH} characters`;
  const rule = provider === null ? ANY : (getDescriptor(provider)?.modelNames ?? ANY);
  const who = provider === null ? 'model' : `${provider} model`;
  // `..` is built from allowed characters but is a path step, and no real model id contains it.
  if (!rule.re.test(model) || model.includes('..')) return `${who} names may contain only ${rule.allowed} (no '..', no empty segments)`;
  return null;
}
