// Model name -> provider and upstream model. `<provider>/<model>` always routes; a config-file alias
// resolves to its targets in the order to try them (ordered, or a weighted draw per request); any
// other bare name goes to DEFAULT_PROVIDER.
import { resolveAlias, type FileConfig } from '../../shared/config/file.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import { modelNameProblem } from '../../shared/providers/model-names.ts';
import { getDescriptor } from '../../shared/providers/registry.ts';
import type { RouteTarget } from '../../shared/protocol/targets.ts';

export type { RouteTarget };

export interface Route {
  /** The first target: the queue the request is published to. */
  provider: string;
  model: string;
  /** Every target in order (first = provider/model); the worker falls back along it. Absent: one target. */
  targets?: RouteTarget[];
}

export function resolveRoute(model: string, defaultProvider: string, file?: FileConfig | null): Route {
  if (file) {
    const targets = resolveAlias(file, model);
    if (targets) {
      const ts = targets.map((t) => ({ provider: t.provider, model: t.model }));
      return { provider: ts[0]!.provider, model: ts[0]!.model, targets: ts };
    }
  }
  checkedModel(null, model);
  const slash = model.indexOf('/');
  if (slash === -1) return single(defaultProvider, checkedModel(defaultProvider, model));
  const provider = model.slice(0, slash);
  const upstream = model.slice(slash + 1);
  // Built-in providers and those the config file declares (`type: openai-compatible`).
  if (!getDescriptor(provider, file) || !upstream) throw errors.modelNotFound(model);
  return single(provider, checkedModel(provider, upstream));
}

function checkedModel(provider: string | null, model: string): string {
  const problem = modelNameProblem(provider, model);
  if (problem) throw new ApiError(400, `Invalid value for 'model': ${problem}.`, { param: 'model', code: 'invalid_model' });
  return model;
}

function single(provider: string, model: string): Route {
  const t = { provider, model };
  return { provider, model, targets: [t] };
}
