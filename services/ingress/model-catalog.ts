// What GET /v1/models lists: config-file aliases, config-declared provider models, and each configured
// provider's own model list (fetched with the configured upstream key, refreshed in the background).
//
// Who fetches: the ingress itself. A list is one small GET per provider per refresh interval, and the
// ingress must answer /v1/models even while no worker of a provider runs; publishing lists from workers
// would need another subject and a KV bucket to get the same answer.
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import { fetchModelList, modelListFormatOf } from '../../shared/providers/common/model-lists.ts';
import { getDescriptor, providerNames } from '../../shared/providers/registry.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import { isModelAllowed } from './model-policy.ts';

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface ModelCatalogOptions {
  config: SwitchyardConfig;
  log: Logger;
  refreshMs: number;
  fetchTimeoutMs: number;
}

/** The first /v1/models waits this long at most for the lists being fetched at start. */
const FIRST_LOAD_WAIT_MS = 3_000;

export class ModelCatalog {
  private readonly opts: ModelCatalogOptions;
  /** Last good list per provider (upstream names); absent until one fetch succeeded. */
  private readonly fetched = new Map<string, Array<{ id: string; created?: number }>>();
  /** Providers whose last fetch failed: logged once, again only after they recovered. */
  private readonly failing = new Set<string>();
  private firstLoad: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: ModelCatalogOptions) {
    this.opts = opts;
  }

  /** Fetches every list now and then every `refreshMs`. */
  start(): void {
    this.firstLoad = this.refresh();
    if (this.opts.refreshMs > 0) {
      this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs);
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Refetches every configured provider's list; a failure keeps the last good list and never throws. */
  async refresh(): Promise<void> {
    await Promise.all(this.configuredProviders().map((p) => this.refreshProvider(p)));
  }

  /** Every model the principal may call, aliases first. */
  async visibleTo(principal: KeyPrincipal): Promise<ModelEntry[]> {
    await this.waitForFirstLoad();
    return this.entries().filter((m) => isModelAllowed(principal, m.id));
  }

  /** One model by id, or undefined when unknown or not allowed for the principal. */
  async find(principal: KeyPrincipal, id: string): Promise<ModelEntry | undefined> {
    return (await this.visibleTo(principal)).find((m) => m.id === id);
  }

  private configuredProviders(): string[] {
    const { config } = this.opts;
    return providerNames(config.file).filter((p) => config.providers[p] && config.providers[p].configured !== false);
  }

  private async refreshProvider(provider: string): Promise<void> {
    const { config, log, fetchTimeoutMs } = this.opts;
    const endpoint = config.providers[provider]!;
    // The config file's first upstream key where it has keys, as a worker would pick one; else the env key.
    const apiKey = config.file?.providers[provider]?.api_keys[0]?.key ?? endpoint.apiKey;
    try {
      const models = await fetchModelList(modelListFormatOf(provider), endpoint.baseUrl, apiKey, fetchTimeoutMs);
      this.fetched.set(provider, models);
      if (this.failing.delete(provider)) log.info({ provider }, 'model list fetch works again');
    } catch (err) {
      if (!this.failing.has(provider)) {
        this.failing.add(provider);
        log.warn({ provider, err: (err as Error).message }, 'model list fetch failed; listing the configured models of this provider');
      }
    }
  }

  private async waitForFirstLoad(): Promise<void> {
    if (!this.firstLoad) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstLoad, new Promise((r) => (timer = setTimeout(r, FIRST_LOAD_WAIT_MS)))]);
    clearTimeout(timer);
    this.firstLoad = null;
  }

  private entries(): ModelEntry[] {
    const { file } = this.opts.config;
    const out = new Map<string, ModelEntry>();
    const add = (id: string, owned_by: string, created = 0) => {
      if (!out.has(id)) out.set(id, { id, object: 'model', created, owned_by });
    };
    for (const alias of Object.keys(file?.models ?? {})) add(alias, 'switchyard');
    for (const provider of this.configuredProviders()) {
      const live = this.fetched.get(provider);
      for (const m of live ?? []) add(`${provider}/${m.id}`, provider, m.created);
      for (const m of file?.providers[provider]?.models ?? []) add(`${provider}/${m}`, provider);
      // Without a list from the upstream (not fetched yet, or failing), the built-in names still show.
      if (!live) for (const m of getDescriptor(provider, file)?.defaultModels ?? []) add(`${provider}/${m}`, provider);
    }
    return [...out.values()];
  }
}
