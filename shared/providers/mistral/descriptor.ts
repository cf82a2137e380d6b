import type { ProviderDescriptor } from '../descriptor.ts';
import { mistralRequestFields } from './request-fields.ts';
import { FLAT_MODEL_NAMES } from '../common/model-name-rules.ts';
import { mistralRateLimits } from './rate-limits.ts';
import { mistral } from './index.ts';

export const mistralDescriptor: ProviderDescriptor = {
  name: 'mistral',
  envPrefix: 'MISTRAL',
  defaultBaseUrl: 'https://api.mistral.ai/v1',
  needsKey: true,
  defaultModels: ['mistral-small-latest'],
  // Fine-tuned ids are `ft:open-mistral-7b:587a6b29:20240514:7e773925`: colons, no slash.
  modelNames: FLAT_MODEL_NAMES,
  rateLimits: mistralRateLimits,
  simulatorPath: '/mistral/v1',
  inCapabilityMatrix: true,
  requestFields: mistralRequestFields,
  adapter: mistral,
};
