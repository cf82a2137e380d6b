// Each provider's own model list, in its native wire shape: where it lives, how the key is sent,
// and a zod schema for the answer (a provider changing its format fails here, loudly, in one place).
// OpenAI-compatible upstreams (OpenAI, Groq, xAI, Mistral, config-declared ones) share one shape.
import { z } from 'zod';
import { getJson } from '../../runtime/get-json.ts';

export interface ModelListRequest {
  url: string;
  headers: Record<string, string>;
}

export interface ModelListFormat {
  /** The first page's request; `pageToken` continues a paged list (Anthropic, Gemini). */
  request(baseUrl: string, apiKey: string | undefined, pageToken?: string): ModelListRequest;
  /** Upstream model names (provider prefix not added) and the next page's token, if any. */
  parse(body: unknown): { models: Array<{ id: string; created?: number }>; next?: string };
}

const bearer = (apiKey: string | undefined): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {});

const openAIList = z.object({ data: z.array(z.object({ id: z.string().min(1), created: z.number().optional() }).loose()) }).loose();

export const openAICompatibleModelList: ModelListFormat = {
  request: (baseUrl, apiKey) => ({ url: `${baseUrl}/models`, headers: bearer(apiKey) }),
  parse: (body) => ({ models: openAIList.parse(body).data.map((m) => ({ id: m.id, created: m.created })) }),
};

const anthropicList = z
  .object({
    data: z.array(z.object({ id: z.string().min(1), created_at: z.string().optional() }).loose()),
    has_more: z.boolean().optional(),
    last_id: z.string().nullable().optional(),
  })
  .loose();

export const anthropicModelList: ModelListFormat = {
  request: (baseUrl, apiKey, after) => ({
    url: `${baseUrl}/v1/models?limit=1000${after ? `&after_id=${encodeURIComponent(after)}` : ''}`,
    headers: { ...(apiKey ? { 'x-api-key': apiKey } : {}), 'anthropic-version': '2023-06-01' },
  }),
  parse: (body) => {
    const b = anthropicList.parse(body);
    return {
      models: b.data.map((m) => ({ id: m.id, created: m.created_at ? Math.floor(Date.parse(m.created_at) / 1000) || 0 : undefined })),
      next: b.has_more && b.last_id ? b.last_id : undefined,
    };
  },
};

// Gemini names models `models/gemini-2.5-flash`; only those that can generate content are callable as chat.
const geminiList = z
  .object({
    models: z.array(z.object({ name: z.string().min(1), supportedGenerationMethods: z.array(z.string()).optional() }).loose()).default([]),
    nextPageToken: z.string().optional(),
  })
  .loose();

export const geminiModelList: ModelListFormat = {
  request: (baseUrl, apiKey, pageToken) => ({
    url: `${baseUrl}/models?pageSize=1000${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`,
    headers: apiKey ? { 'x-goog-api-key': apiKey } : ({} as Record<string, string>),
  }),
  parse: (body) => {
    const b = geminiList.parse(body);
    return {
      models: b.models
        .filter(
          (m) => !m.supportedGenerationMethods || m.supportedGenerationMethods.some((g) => g === 'generateContent' || g === 'embedContent'),
        )
        .map((m) => ({ id: m.name.replace(/^models\//, '') })),
      next: b.nextPageToken || undefined,
    };
  },
};

const ollamaTags = z.object({ models: z.array(z.object({ name: z.string().min(1) }).loose()).default([]) }).loose();

export const ollamaModelList: ModelListFormat = {
  request: (baseUrl) => ({ url: `${baseUrl}/api/tags`, headers: {} }),
  parse: (body) => ({ models: ollamaTags.parse(body).models.map((m) => ({ id: m.name })) }),
};

const NATIVE_FORMATS: Record<string, ModelListFormat> = {
  anthropic: anthropicModelList,
  gemini: geminiModelList,
  ollama: ollamaModelList,
};

/** The list format of a provider: its own where it has one, else the OpenAI-compatible `GET /models`. */
export function modelListFormatOf(provider: string): ModelListFormat {
  return NATIVE_FORMATS[provider] ?? openAICompatibleModelList;
}

/** Pages a list seldom has more than one of; a misbehaving upstream must not loop forever. */
const MAX_PAGES = 20;

/** Fetches a provider's whole list; throws on a network error, a non-2xx status or an unexpected shape. */
export async function fetchModelList(
  format: ModelListFormat,
  baseUrl: string,
  apiKey: string | undefined,
  timeoutMs: number,
): Promise<Array<{ id: string; created?: number }>> {
  const out: Array<{ id: string; created?: number }> = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const { url, headers } = format.request(baseUrl, apiKey, token);
    const { models, next } = format.parse(await getJson(url, { headers, timeoutMs }));
    out.push(...models);
    if (!next) break;
    token = next;
  }
  return out;
}
