// Each provider's model-list shape parses to upstream names; a changed shape fails loudly.
import { describe, expect, it } from 'vitest';
import {
  anthropicModelList,
  geminiModelList,
  modelListFormatOf,
  ollamaModelList,
  openAICompatibleModelList,
} from '../../shared/providers/common/model-lists.ts';

describe('model list formats', () => {
  it('OpenAI-compatible: data[].id with the bearer key', () => {
    expect(openAICompatibleModelList.request('https://api.groq.com/openai/v1', 'k')).toEqual({
      url: 'https://api.groq.com/openai/v1/models',
      headers: { authorization: 'Bearer k' },
    });
    expect(openAICompatibleModelList.parse({ object: 'list', data: [{ id: 'gpt-4o', created: 5, owned_by: 'x' }] })).toEqual({
      models: [{ id: 'gpt-4o', created: 5 }],
    });
    expect(() => openAICompatibleModelList.parse({ models: [] })).toThrow();
  });

  it('Anthropic: x-api-key and version headers, paged by after_id', () => {
    const r = anthropicModelList.request('https://api.anthropic.com', 'k', 'claude-b');
    expect(r.url).toBe('https://api.anthropic.com/v1/models?limit=1000&after_id=claude-b');
    expect(r.headers).toEqual({ 'x-api-key': 'k', 'anthropic-version': '2023-06-01' });
    const page = anthropicModelList.parse({
      data: [{ type: 'model', id: 'claude-a', display_name: 'A', created_at: '2025-01-01T00:00:00Z' }],
      has_more: true,
      last_id: 'claude-a',
    });
    expect(page).toEqual({ models: [{ id: 'claude-a', created: 1735689600 }], next: 'claude-a' });
  });

  it('Gemini: strips models/, keeps generating models, follows nextPageToken', () => {
    const page = geminiModelList.parse({
      models: [
        { name: 'models/gemini-2.5-flash', supportedGenerationMethods: ['generateContent'] },
        { name: 'models/aqa', supportedGenerationMethods: ['generateAnswer'] },
      ],
      nextPageToken: 't2',
    });
    expect(page).toEqual({ models: [{ id: 'gemini-2.5-flash' }], next: 't2' });
    expect(geminiModelList.request('https://g/v1beta', 'k', 't2')).toEqual({
      url: 'https://g/v1beta/models?pageSize=1000&pageToken=t2',
      headers: { 'x-goog-api-key': 'k' },
    });
  });

  it('Ollama: /api/tags names', () => {
    expect(ollamaModelList.request('http://localhost:11434', undefined).url).toBe('http://localhost:11434/api/tags');
    expect(ollamaModelList.parse({ models: [{ name: 'llama3.2:latest', size: 1 }] })).toEqual({ models: [{ id: 'llama3.2:latest' }] });
  });

  it('picks the native format per provider, OpenAI-compatible otherwise', () => {
    expect(modelListFormatOf('anthropic')).toBe(anthropicModelList);
    expect(modelListFormatOf('mistral')).toBe(openAICompatibleModelList);
    expect(modelListFormatOf('together')).toBe(openAICompatibleModelList);
  });
});
