import type { ProviderDescriptor } from '../descriptor.ts';
import { ollamaRequestFields } from './request-fields.ts';
import { NAMESPACED_MODEL_NAMES } from '../common/model-name-rules.ts';
import { noRateLimitHeaders } from '../common/rate-limit-headers.ts';
import { ollama } from './index.ts';

export const ollamaDescriptor: ProviderDescriptor = {
  name: 'ollama',
  envPrefix: 'OLLAMA',
  defaultBaseUrl: 'http://localhost:11434',
  needsKey: false,
  defaultModels: ['llama3.2'],
  modelNames: NAMESPACED_MODEL_NAMES,
  rateLimits: noRateLimitHeaders,
  simulatorPath: '/ollama',
  inCapabilityMatrix: true,
  requestFields: ollamaRequestFields,
  adapter: ollama,
};
