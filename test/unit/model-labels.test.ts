// The `model` label takes only names the deployment knows: config aliases and their targets, the
// providers' default models, the price book; in every form a client may write them. Else `other`.
import { describe, expect, it } from 'vitest';
import { knownModelNames, ModelLabels, OTHER_MODEL } from '../../shared/telemetry/model-labels.ts';
import type { FileConfig } from '../../shared/config/file.ts';

describe('model labels', () => {
  it('knows default and priced models as provider/model, and bare for the default provider', () => {
    const names = new Set(knownModelNames({ file: null, DEFAULT_PROVIDER: 'openai' }));
    expect(names.has('openai/gpt-4o-mini')).toBe(true);
    expect(names.has('gpt-4o-mini')).toBe(true);
    expect([...names].some((n) => n.startsWith('anthropic/'))).toBe(true);
    expect([...names].some((n) => !n.includes('/') && n.startsWith('claude'))).toBe(false);
  });

  it('knows the aliases of the config file and their targets', () => {
    const file = {
      models: { fast: { targets: [{ provider: 'groq', model: 'llama-custom-1' }] } },
      providers: {},
    } as unknown as FileConfig;
    const names = new Set(knownModelNames({ file, DEFAULT_PROVIDER: 'openai' }));
    expect(names.has('fast')).toBe(true);
    expect(names.has('groq/llama-custom-1')).toBe(true);
  });

  it('labels unknown, tenant-chosen names `other` and absent ones empty', () => {
    const labels = new ModelLabels();
    labels.configure(['openai/gpt-4o-mini', 'fast']);
    expect(labels.label('fast')).toBe('fast');
    expect(labels.label('openai/gpt-4o-mini')).toBe('openai/gpt-4o-mini');
    expect(labels.label('openai/anything-a-tenant-types')).toBe(OTHER_MODEL);
    expect(labels.label('x'.repeat(10_000))).toBe(OTHER_MODEL);
    expect(labels.label(undefined)).toBe('');
    expect(labels.label(42)).toBe('');
  });
});
