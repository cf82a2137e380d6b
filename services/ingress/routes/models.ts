// GET /v1/models and GET /v1/models/{id}: what this key may call (services/ingress/model-catalog.ts).
// Ids are `provider/model`, so the single-model route takes the rest of the path, slashes included.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { SwitchyardConfig } from '../../../shared/config/env.ts';
import { errors } from '../../../shared/protocol/errors.ts';
import type { Logger } from '../../../shared/telemetry/logger.ts';
import { ModelCatalog } from '../model-catalog.ts';
import { principalOf } from '../principal.ts';

export interface ModelRoutesOptions {
  config: SwitchyardConfig;
  log: Logger;
  authenticate: (req: FastifyRequest) => Promise<void>;
}

export const modelRoutes: FastifyPluginAsync<ModelRoutesOptions> = async (app, opts) => {
  const { config, log, authenticate } = opts;
  const catalog = new ModelCatalog({
    config,
    log,
    refreshMs: config.MODELS_REFRESH_SECONDS * 1000,
    fetchTimeoutMs: config.MODELS_FETCH_TIMEOUT_MS,
  });
  catalog.start();
  app.addHook('onClose', async () => catalog.close());

  app.get('/v1/models', { onRequest: authenticate }, async (req) => ({
    object: 'list',
    data: await catalog.visibleTo(principalOf(req)),
  }));

  app.get<{ Params: { '*': string } }>('/v1/models/*', { onRequest: authenticate }, async (req) => {
    const id = req.params['*'];
    const model = await catalog.find(principalOf(req), id);
    if (!model) throw errors.modelNotFound(id);
    return model;
  });
};
