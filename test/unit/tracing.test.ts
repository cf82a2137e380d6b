// Tracing is decided by the standard OTEL_* variables, and the GenAI attributes are derived from
// Switchyard's events by pure functions (the spans themselves: test/integration/tracing.test.ts).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/env.ts';
import { tracing, tracingWanted } from '../../shared/telemetry/tracing.ts';
import { genAiProviderName, genAiRequestAttributes, genAiResponseAttributes } from '../../shared/telemetry/genai-attributes.ts';

describe('tracingWanted', () => {
  it('is off without an OTLP endpoint, and when the SDK or the trace exporter is disabled', () => {
    expect(tracingWanted({})).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBe(false);
    expect(tracingWanted({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
  });

  it('is on with the general or the traces-only endpoint', () => {
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
  });

  it('stays off in a process that never started it (the hot-path flag)', () => {
    expect(tracing.on).toBe(false);
  });

  it('refuses an unknown OTLP protocol at start, naming the variable', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).not.toThrow();
  });
});

describe('GenAI attributes', () => {
  it('names providers as the semantic conventions do', () => {
    expect(genAiProviderName('gemini')).toBe('gcp.gemini');
    expect(genAiProviderName('xai')).toBe('x_ai');
    expect(genAiProviderName('ollama')).toBe('ollama');
    expect(genAiRequestAttributes('chat', 'anthropic', 'claude-x')).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.system': 'anthropic',
      'gen_ai.request.model': 'claude-x',
    });
  });

  it('reads model, usage and finish reason from terminal events only', () => {
    const usage = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };
    expect(genAiResponseAttributes({ type: 'done', finish_reason: 'length', usage, model: 'm', provider: 'openai' })).toEqual({
      'gen_ai.response.model': 'm',
      'gen_ai.usage.input_tokens': 7,
      'gen_ai.usage.output_tokens': 3,
      'gen_ai.response.finish_reasons': ['length'],
    });
    const embeddings = genAiResponseAttributes({
      type: 'result',
      kind: 'embeddings',
      data: [],
      usage: { prompt_tokens: 4, total_tokens: 4 },
      model: 'e',
      provider: 'openai',
    });
    expect(embeddings).toEqual({ 'gen_ai.response.model': 'e', 'gen_ai.usage.input_tokens': 4, 'gen_ai.usage.output_tokens': 0 });
    expect(genAiResponseAttributes({ type: 'chunk', delta: { content: 'x' } })).toBeNull();
  });
});
