import type { ProviderDescriptor } from '../descriptor.ts';
import { FORWARDED_AS_IS } from '../request-fields.ts';
import { NAMESPACED_MODEL_NAMES } from '../common/model-name-rules.ts';
import { openAIRateLimits } from '../common/rate-limit-headers.ts';
import { openai } from './index.ts';

export const openaiDescriptor: ProviderDescriptor = {
  name: 'openai',
  envPrefix: 'OPENAI',
  defaultBaseUrl: 'https://api.openai.com/v1',
  needsKey: true,
  defaultModels: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'],
  modelNames: NAMESPACED_MODEL_NAMES,
  rateLimits: openAIRateLimits,
  simulatorPath: '/v1',
  inCapabilityMatrix: true,
  requestFields: FORWARDED_AS_IS,
  adapter: openai,
};
