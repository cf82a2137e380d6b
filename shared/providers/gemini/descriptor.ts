import type { ProviderDescriptor } from '../descriptor.ts';
import { geminiRequestFields } from './request-fields.ts';
import { GEMINI_MODEL_NAMES } from '../common/model-name-rules.ts';
import { noRateLimitHeaders } from '../common/rate-limit-headers.ts';
import { gemini } from './index.ts';

export const geminiDescriptor: ProviderDescriptor = {
  name: 'gemini',
  envPrefix: 'GEMINI',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta',
  needsKey: true,
  defaultModels: ['gemini-2.5-flash', 'gemini-2.5-pro'],
  modelNames: GEMINI_MODEL_NAMES,
  rateLimits: noRateLimitHeaders,
  simulatorPath: '/gemini/v1beta',
  inCapabilityMatrix: true,
  requestFields: geminiRequestFields,
  adapter: gemini,
};
