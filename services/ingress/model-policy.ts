// Which models a key may call. Both the tenant's and the key's `allowed_models` apply (a model must
// pass each list that is set; null means "no restriction at this level", [] allows nothing).
// Patterns use `*` as "any characters, slashes included" (upstream names such as
// `groq/meta-llama/llama-4-scout` contain slashes). A pattern without a slash also matches the part
// after `<provider>/`, so `gpt-*` allows `openai/gpt-4o-mini` and `gpt-4o` but not `anthropic/claude-3`.
// A bare model name is matched as written: `openai/*` does not allow `gpt-4o`, because a bare name
// may be an alias that routes to another provider.
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import { ApiError } from '../../shared/protocol/errors.ts';

type Matcher = (model: string) => boolean;

// Principals are cached by the authenticator, so their pattern arrays are the same objects request
// after request: compile each list once (this runs on every chat and embeddings request).
const compiled = new WeakMap<readonly string[], Matcher>();

/** Throws the 403 `model_not_allowed` error unless both the tenant's and the key's lists allow the model. */
export function assertModelAllowed(principal: KeyPrincipal, publicModel: string): void {
  if (principal.tenantAllowedModels && !matcherFor(principal.tenantAllowedModels)(publicModel)) {
    throw modelNotAllowed(publicModel, 'tenant');
  }
  if (principal.keyAllowedModels && !matcherFor(principal.keyAllowedModels)(publicModel)) {
    throw modelNotAllowed(publicModel, 'API key');
  }
}

/** The same check as assertModelAllowed without the throw (GET /v1/models hides what it would refuse). */
export function isModelAllowed(principal: KeyPrincipal, publicModel: string): boolean {
  if (principal.tenantAllowedModels && !matcherFor(principal.tenantAllowedModels)(publicModel)) return false;
  return !principal.keyAllowedModels || matcherFor(principal.keyAllowedModels)(publicModel);
}

/** True when any of the patterns allows the model (see the rules at the top of this file). */
export function modelMatches(patterns: readonly string[], model: string): boolean {
  return matcherFor(patterns)(model);
}

function matcherFor(patterns: readonly string[]): Matcher {
  let m = compiled.get(patterns);
  if (!m) {
    m = compile(patterns);
    compiled.set(patterns, m);
  }
  return m;
}

function compile(patterns: readonly string[]): Matcher {
  if (patterns.length === 0) return () => false;
  if (patterns.includes('*')) return () => true;
  const full: string[] = [];
  const bare: string[] = [];
  for (const p of patterns) (p.includes('/') ? full : bare).push(globToRegex(p));
  // Bare patterns are tried against the whole name and against the part after the first slash.
  const fullRe = full.length || bare.length ? new RegExp(`^(?:${[...full, ...bare].join('|')})$`) : null;
  const bareRe = bare.length ? new RegExp(`^(?:${bare.join('|')})$`) : null;
  return (model) => {
    if (fullRe?.test(model)) return true;
    if (!bareRe) return false;
    const slash = model.indexOf('/');
    return slash > 0 && bareRe.test(model.slice(slash + 1));
  };
}

function globToRegex(pattern: string): string {
  return pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
}

function modelNotAllowed(model: string, level: 'tenant' | 'API key'): ApiError {
  return new ApiError(403, `The model '${model}' is not allowed for this ${level}.`, {
    type: 'permission_error',
    param: 'model',
    code: 'model_not_allowed',
  });
}
