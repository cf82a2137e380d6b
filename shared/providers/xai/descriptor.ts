import type { ProviderDescriptor } from '../descriptor.ts';
import { FORWARDED_AS_IS, translated } from '../request-fields.ts';
import { FLAT_MODEL_NAMES } from '../common/model-name-rules.ts';
import { openAIRateLimits } from '../common/rate-limit-headers.ts';
import { xai } from './index.ts';

export const xaiDescriptor: ProviderDescriptor = {
  name: 'xai',
  envPrefix: 'XAI',
  defaultBaseUrl: 'https://api.x.ai/v1',
  needsKey: true,
  defaultModels: ['grok-3-mini'],
  modelNames: FLAT_MODEL_NAMES,
  rateLimits: openAIRateLimits,
  simulatorPath: '/xai/v1',
  inCapabilityMatrix: true,
  requestFields: {
    ...FORWARDED_AS_IS,
    reasoning_effort: translated('low or high (xAI takes only those); none is left unset'),
  },
  adapter: xai,
};
