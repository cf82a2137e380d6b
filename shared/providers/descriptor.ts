// What Switchyard knows about a provider besides its wire format: the data every list in the code
// (env vars, base URLs, simulators, /v1/models, routing, rate-limit parsing, model-name rules)
// derives from. One per provider folder (`<provider>/descriptor.ts`), listed in ./registry.ts.
import type { ProviderAdapter } from './types.ts';
import type { ModelNameRule } from './common/model-name-rules.ts';
import type { RateLimitParser } from './common/rate-limit-headers.ts';
import type { RequestFieldTable } from './request-fields.ts';

export interface ProviderDescriptor {
  /** The `<provider>` of `<provider>/<model>`, of NATS subjects and of the config file. */
  readonly name: string;
  /** `<envPrefix>_API_KEY` and `<envPrefix>_BASE_URL`. */
  readonly envPrefix: string;
  readonly defaultBaseUrl: string;
  /** False: the default endpoint answers without a key (a local server), so it counts as configured. */
  readonly needsKey: boolean;
  /** Listed by GET /v1/models while the provider is configured. */
  readonly defaultModels: readonly string[];
  readonly modelNames: ModelNameRule;
  /** How long the key is exhausted for, from the provider's rate-limit headers (a 429 is handled for all). */
  readonly rateLimits: RateLimitParser;
  /** Where services/mock-providers serves this wire format, under its root URL. */
  readonly simulatorPath: string;
  /** A column of the capability matrix (docs/capabilities.md). */
  readonly inCapabilityMatrix: boolean;
  /** What the adapter does with each OpenAI chat request field: sent, translated or refused (./request-fields.ts). */
  readonly requestFields: RequestFieldTable;
  readonly adapter: ProviderAdapter;
}
