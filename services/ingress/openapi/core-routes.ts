// Specs of the routes services/ingress/server.ts registers inline (ops and GET /v1/models).
import { z } from 'zod';
import { documentRoute } from './registry.ts';
import { modelSchema } from './schemas.ts';

documentRoute('GET /healthz', {
  summary: 'Liveness',
  tags: ['Operations'],
  auth: 'none',
  responses: { 200: z.object({ status: z.literal('ok') }) },
});
documentRoute('GET /readyz', {
  summary: 'Readiness: NATS and the database reachable',
  tags: ['Operations'],
  auth: 'none',
  responses: {
    200: z.object({ status: z.literal('ready'), nats: z.boolean(), database: z.boolean() }),
    503: { description: 'Not ready.', schema: z.object({ status: z.literal('unavailable'), nats: z.boolean(), database: z.boolean() }) },
  },
});
documentRoute('GET /metrics', {
  summary: 'Prometheus metrics',
  tags: ['Operations'],
  auth: 'metrics',
  responses: { 200: { description: 'Prometheus text exposition format.', contentType: 'text/plain' } },
});
documentRoute('GET /v1/models', {
  summary: "List the models this key may call: aliases, declared models and each provider's own list",
  tags: ['OpenAI'],
  auth: 'tenant',
  responses: { 200: z.object({ object: z.literal('list'), data: z.array(modelSchema) }) },
});
documentRoute('GET /v1/models/*', {
  summary: 'Retrieve one model (the id may contain `/`, e.g. /v1/models/openai/gpt-4o-mini)',
  tags: ['OpenAI'],
  auth: 'tenant',
  responses: { 200: modelSchema },
});
