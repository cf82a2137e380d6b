import type { ProviderDescriptor } from '../descriptor.ts';
import { anthropicRequestFields } from './request-fields.ts';
import { FLAT_MODEL_NAMES } from '../common/model-name-rules.ts';
import { anthropicRateLimits } from './rate-limits.ts';
import { anthropic } from './index.ts';

export const anthropicDescriptor: ProviderDescriptor = {
  name: 'anthropic',
  envPrefix: 'ANTHROPIC',
  defaultBaseUrl: 'https://api.anthropic.com',
  needsKey: true,
  defaultModels: ['claude-sonnet-4-5', 'claude-haiku-4-5'],
  modelNames: FLAT_MODEL_NAMES,
  rateLimits: anthropicRateLimits,
  simulatorPath: '/anthropic',
  inCapabilityMatrix: true,
  requestFields: anthropicRequestFields,
  adapter: anthropic,
};
