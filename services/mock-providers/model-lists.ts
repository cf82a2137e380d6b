// Each simulated provider's model list, in that provider's own shape and at its own path:
//   OpenAI, Groq, xAI, Mistral: GET <prefix>/models      {object:'list', data:[{id, object:'model', created, owned_by}]}
//   Anthropic:                  GET /anthropic/v1/models  {data:[{type:'model', id, display_name, created_at}], has_more, first_id, last_id}
//   Gemini:                     GET <prefix>/models       {models:[{name:'models/<id>', supportedGenerationMethods, ...}]}
//   Ollama:                     GET /ollama/api/tags      {models:[{name, model, modified_at, size, digest, details}]}
// Each list is the provider's built-in names plus one the simulator alone serves, so a test can tell a
// fetched list from the built-in fallback.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getDescriptor } from '../../shared/providers/registry.ts';

/** A model only the simulator lists (per provider). */
export const SIMULATOR_ONLY_MODELS: Record<string, string> = {
  openai: 'gpt-4.1-nano',
  anthropic: 'claude-opus-4-1',
  gemini: 'gemini-2.0-flash-lite',
  groq: 'llama-3.1-8b-instant',
  xai: 'grok-4',
  ollama: 'qwen3:0.6b',
  mistral: 'mistral-large-latest',
};

const CREATED = 1_700_000_000;

function namesOf(provider: string): string[] {
  return [...(getDescriptor(provider)?.defaultModels ?? []), SIMULATOR_ONLY_MODELS[provider]!];
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** The provider whose list lives at `path` (GET), or undefined. */
export function modelListProviderAt(path: string): string | undefined {
  for (const provider of Object.keys(SIMULATOR_ONLY_MODELS)) {
    const prefix = getDescriptor(provider)!.simulatorPath;
    const listPath = provider === 'anthropic' ? '/v1/models' : provider === 'ollama' ? '/api/tags' : '/models';
    if (path === `${prefix}${listPath}`) return provider;
  }
  return undefined;
}

/** Answers a model-list request; `failing` providers answer 503 in their own error shape. */
export function serveModelList(provider: string, req: IncomingMessage, res: ServerResponse, failing: boolean): void {
  const names = namesOf(provider);
  if (provider === 'anthropic') {
    if (!req.headers['x-api-key'] && !req.headers.authorization)
      return send(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'x-api-key header is required' } });
    if (failing) return send(res, 503, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    const data = names.map((id) => ({ type: 'model', id, display_name: id, created_at: new Date(CREATED * 1000).toISOString() }));
    return send(res, 200, { data, has_more: false, first_id: data[0]!.id, last_id: data.at(-1)!.id });
  }
  if (provider === 'gemini') {
    if (failing) return send(res, 503, { error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } });
    const models = names.map((id) => ({
      name: `models/${id}`,
      version: '001',
      displayName: id,
      inputTokenLimit: 1_048_576,
      outputTokenLimit: 65_536,
      supportedGenerationMethods: ['generateContent', 'countTokens'],
    }));
    return send(res, 200, { models });
  }
  if (provider === 'ollama') {
    if (failing) return send(res, 503, { error: 'server busy' });
    const models = names.map((name) => ({
      name: name.includes(':') ? name : `${name}:latest`,
      model: name.includes(':') ? name : `${name}:latest`,
      modified_at: new Date(CREATED * 1000).toISOString(),
      size: 1_000_000,
      digest: 'sha256:0',
      details: { format: 'gguf', family: 'llama', parameter_size: '1B', quantization_level: 'Q4_K_M' },
    }));
    return send(res, 200, { models });
  }
  if (provider !== 'openai' && !req.headers.authorization)
    return send(res, 401, { error: { message: 'Invalid API Key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
  if (failing) return send(res, 503, { error: { message: 'The server is overloaded.', type: 'server_error', param: null, code: null } });
  return send(res, 200, { object: 'list', data: names.map((id) => ({ id, object: 'model', created: CREATED, owned_by: provider })) });
}
