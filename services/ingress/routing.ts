// Model name -> provider and upstream model. `<provider>/<model>` always routes; a bare name goes
// to DEFAULT_PROVIDER. (Aliases from the config file resolve here too, to ordered targets.)
import { PROVIDER_NAMES } from '../../shared/config/env.ts';
import { errors } from '../../shared/protocol/errors.ts';

export interface Route {
  provider: string;
  model: string;
}

export function resolveRoute(model: string, defaultProvider: string): Route {
  const slash = model.indexOf('/');
  if (slash === -1) return { provider: defaultProvider, model };
  const provider = model.slice(0, slash);
  const upstream = model.slice(slash + 1);
  if (!(PROVIDER_NAMES as readonly string[]).includes(provider) || !upstream) throw errors.modelNotFound(model);
  return { provider, model: upstream };
}
