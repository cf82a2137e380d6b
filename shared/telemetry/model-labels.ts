// The `model` label of /metrics. Model names come from tenants, so only names the operator or the
// code already knows become label values: aliases of the config file, their targets, every provider's
// default models and the price book. Anything else is `other`, so a tenant cannot mint series.
import type { SwitchyardConfig } from '../config/env.ts';
import { PriceBook } from '../config/prices.ts';
import { priceBookFromConfig } from '../config/file.ts';
import { getDescriptor, providerNames } from '../providers/registry.ts';

export const OTHER_MODEL = 'other';

export class ModelLabels {
  private known = new Set<string>();

  /** Replaces the known names (a config reload calls it again). */
  configure(names: Iterable<string>): void {
    this.known = new Set(names);
  }

  /** The label for a model as the client named it (alias, `provider/model`, or bare); '' when there is none. */
  label(model: unknown): string {
    if (typeof model !== 'string' || model === '') return '';
    return this.known.has(model) ? model : OTHER_MODEL;
  }
}

/** Every model name the deployment knows, in the forms a client may write it. */
export function knownModelNames(config: Pick<SwitchyardConfig, 'file' | 'DEFAULT_PROVIDER'>): string[] {
  const file = config.file ?? null;
  const targets: Array<[string, string]> = [];
  for (const provider of providerNames(file)) {
    for (const m of getDescriptor(provider, file)?.defaultModels ?? []) targets.push([provider, m]);
    for (const m of file?.providers?.[provider]?.models ?? []) targets.push([provider, m]);
  }
  for (const alias of Object.values(file?.models ?? {})) for (const t of alias.targets) targets.push([t.provider, t.model]);
  const prices = file ? priceBookFromConfig(file) : new PriceBook();
  for (const key of prices.models()) {
    const slash = key.indexOf('/');
    if (slash > 0) targets.push([key.slice(0, slash), key.slice(slash + 1)]);
  }
  const names = new Set<string>(Object.keys(file?.models ?? {}));
  for (const [provider, model] of targets) {
    names.add(`${provider}/${model}`);
    // A bare name routes to the default provider.
    if (provider === config.DEFAULT_PROVIDER) names.add(model);
  }
  return [...names];
}

/** One per process, like the metrics registry. */
export const modelLabels = new ModelLabels();
