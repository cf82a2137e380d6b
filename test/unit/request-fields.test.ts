// The request-field check itself (shared/providers/request-fields.ts): which values ask for something,
// how a refusal is named, the ingress rule across a route's targets, the worker's per-target check and
// the fallback it allows. The end-to-end proof per provider x field is test/conformance/request-fields.test.ts.
import { describe, expect, it } from 'vitest';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';
import { BUILTIN_PROVIDERS, getAdapter, getDescriptor } from '../../shared/providers/registry.ts';
import {
  assertFieldsServable,
  CHAT_REQUEST_FIELD_NAMES,
  unsupportedField,
  type RequestFieldTable,
} from '../../shared/providers/request-fields.ts';
import { AdapterError } from '../../shared/providers/types.ts';
import { shouldFallback } from '../../services/worker/fallback.ts';
import { ApiError } from '../../shared/protocol/errors.ts';

const table = (provider: string): RequestFieldTable => getDescriptor(provider)!.requestFields;
const req = (fields: Record<string, unknown>) =>
  ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...fields }) as unknown as ChatCompletionRequest;

describe('request-field tables', () => {
  it('every built-in provider declares every field', () => {
    for (const d of BUILTIN_PROVIDERS) expect(Object.keys(d.requestFields).sort(), d.name).toEqual([...CHAT_REQUEST_FIELD_NAMES].sort());
  });

  it('a refusal is a 400 unsupported_parameter naming the field, the provider and why', () => {
    const err = unsupportedField('anthropic', table('anthropic'), req({ seed: 1 }))!;
    expect(err.status).toBe(400);
    expect(err.toBody().error).toEqual({
      type: 'invalid_request_error',
      param: 'seed',
      code: 'unsupported_parameter',
      message: "Provider 'anthropic' does not support 'seed': Anthropic has no seed.",
    });
  });

  it('values that ask for nothing are served by providers without the feature', () => {
    const defaults = req({
      logprobs: false,
      top_logprobs: 0,
      n: 1,
      parallel_tool_calls: true,
      store: false,
      metadata: {},
      user: '',
      frequency_penalty: 0,
      presence_penalty: 0,
      service_tier: 'auto',
      modalities: ['text'],
      response_format: { type: 'text' },
      seed: null,
    });
    for (const p of ['anthropic', 'gemini', 'ollama', 'mistral']) expect(unsupportedField(p, table(p), defaults), p).toBeNull();
  });

  it('a content part is refused where it sits', () => {
    const body = req({
      messages: [
        { role: 'system', content: 'sys' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'listen' },
            { type: 'input_audio', input_audio: { data: 'AA', format: 'wav' } },
          ],
        },
      ],
    });
    expect(unsupportedField('ollama', table('ollama'), body)?.param).toBe('messages[1].content[1]');
    expect(unsupportedField('openai', table('openai'), body)).toBeNull();
  });

  it('the ingress refuses only what no target of the route takes, naming the first target', () => {
    const tableOf = (p: string) => getDescriptor(p)?.requestFields;
    const logprobs = req({ logprobs: true });
    expect(() =>
      assertFieldsServable(
        logprobs,
        [
          { provider: 'anthropic', model: 'a' },
          { provider: 'openai', model: 'b' },
        ],
        tableOf,
      ),
    ).not.toThrow();
    let thrown: unknown;
    try {
      assertFieldsServable(
        logprobs,
        [
          { provider: 'anthropic', model: 'a' },
          { provider: 'mistral', model: 'b' },
        ],
        tableOf,
      );
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).message).toContain("'anthropic'");
    expect((thrown as ApiError).param).toBe('logprobs');
  });

  it('the worker refuses per target before building anything, and the walk moves on to the next target', async () => {
    const anthropic = getAdapter('anthropic')!;
    let thrown: unknown;
    try {
      await anthropic.buildChatRequest({ baseUrl: 'http://x', apiKey: 'k' }, 'claude', req({ logprobs: true }), false);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AdapterError);
    const failure = (thrown as AdapterError).upstream;
    expect(failure).toMatchObject({ status: 400, retryable: false, error: { param: 'logprobs', code: 'unsupported_parameter' } });
    expect(shouldFallback(failure)).toBe(true);
    // Any other 400 stays with the target that answered it.
    expect(shouldFallback({ ...failure, error: { ...failure.error, code: 'invalid_value' } })).toBe(false);
  });
});

describe('gemini audio and file parts', () => {
  const build = (part: Record<string, unknown>) =>
    getAdapter('gemini')!.buildChatRequest(
      { baseUrl: 'http://x', apiKey: 'k' },
      'gemini-2.5-flash',
      req({ messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, part] }] }),
      false,
    );

  it('become inlineData in their place', async () => {
    const up = await build({ type: 'input_audio', input_audio: { data: 'SUQz', format: 'mp3' } });
    expect(JSON.parse(up.body).contents[0].parts).toEqual([{ text: 'see' }, { inlineData: { mimeType: 'audio/mp3', data: 'SUQz' } }]);
  });

  it('an OpenAI file id or a file_data that is no data URL is a 400 naming where it sits', async () => {
    await expect(build({ type: 'file', file: { file_id: 'file-abc' } })).rejects.toMatchObject({
      upstream: { status: 400, error: { param: 'messages[0].content[1].file.file_id', code: 'unsupported_parameter' } },
    });
    await expect(build({ type: 'file', file: { file_data: 'https://example.com/a.pdf' } })).rejects.toMatchObject({
      upstream: { status: 400, error: { param: 'messages[0].content[1].file.file_data', code: 'invalid_value' } },
    });
  });
});

describe('anthropic file parts', () => {
  // async: Anthropic's builder throws synchronously; the expectations want a rejection.
  const build = async (part: Record<string, unknown>) =>
    getAdapter('anthropic')!.buildChatRequest(
      { baseUrl: 'http://x', apiKey: 'k' },
      'claude-sonnet-4-5',
      req({ messages: [{ role: 'user', content: ['x', part].slice(1) }] }),
      false,
    );

  it('a PDF becomes a document block; another type or a file id is a 400 naming where it sits', async () => {
    const up = await build({ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE' } });
    expect(JSON.parse(up.body).messages[0].content).toEqual([
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } },
    ]);
    await expect(build({ type: 'file', file: { file_data: 'data:text/csv;base64,YSxi' } })).rejects.toMatchObject({
      upstream: { status: 400, error: { param: 'messages[0].content[0].file.file_data', code: 'unsupported_parameter' } },
    });
    await expect(build({ type: 'file', file: { file_id: 'file-1' } })).rejects.toMatchObject({
      upstream: { status: 400, error: { param: 'messages[0].content[0].file.file_id', code: 'unsupported_parameter' } },
    });
  });
});
