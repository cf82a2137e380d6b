import type { ProviderDescriptor } from '../descriptor.ts';
import { FORWARDED_AS_IS } from '../request-fields.ts';
import { NAMESPACED_MODEL_NAMES } from '../common/model-name-rules.ts';
import { openAIRateLimits } from '../common/rate-limit-headers.ts';
import { groq } from './index.ts';

export const groqDescriptor: ProviderDescriptor = {
  name: 'groq',
  envPrefix: 'GROQ',
  defaultBaseUrl: 'https://api.groq.com/openai/v1',
  needsKey: true,
  defaultModels: ['llama-3.3-70b-versatile'],
  modelNames: NAMESPACED_MODEL_NAMES,
  rateLimits: openAIRateLimits,
  simulatorPath: '/groq/openai/v1',
  inCapabilityMatrix: true,
  requestFields: FORWARDED_AS_IS,
  adapter: groq,
};
