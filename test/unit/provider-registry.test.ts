// Every provider list derives from the registry (shared/providers/registry.ts); a provider the config
// file declares (`type: openai-compatible`) joins those lists, and a bad declaration fails at start
// with file:line:col like every other config error.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BASE_URLS, loadConfig, PROVIDER_NAMES } from '../../shared/config/env.ts';
import { ConfigFileError, parseConfigFile } from '../../shared/config/file.ts';
import { planProviders } from '../../shared/config/providers.ts';
import {
  adapterNames,
  BUILTIN_PROVIDERS,
  BUILTIN_PROVIDER_NAMES,
  getAdapter,
  getDescriptor,
  providerNames,
} from '../../shared/providers/registry.ts';
import { modelNameProblem } from '../../shared/providers/model-names.ts';
import { resolveRoute } from '../../services/ingress/routing.ts';
import { exhaustedForMs, UpstreamKeys } from '../../services/worker/upstream-keys.ts';
import { MATRIX_PROVIDERS } from '../conformance/capabilities.ts';
import { PROVIDERS as REPLAY_PROVIDERS } from '../conformance/replay.ts';

const BUILTINS = ['openai', 'anthropic', 'gemini', 'groq', 'xai', 'ollama', 'mistral'];

const DECLARED = `
providers:
  together:
    type: openai-compatible
    base_url: https://api.together.xyz/v1/
    api_keys: [sk-together]
    models: [llama-3.3-70b]
models:
  cheap: { targets: [{ model: together/llama-3.3-70b }, { model: openai/gpt-4o-mini }] }
prices:
  together/llama-3.3-70b: { input: 0.1, output: 0.3 }
`;

function failing(text: string): ConfigFileError {
  try {
    parseConfigFile(text, { source: 'bad.yaml', env: {} });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigFileError);
    return err as ConfigFileError;
  }
  throw new Error('expected the config file to be rejected');
}

describe('lists derived from the registry', () => {
  it('the six built-in providers, in order, each with its adapter under its own name', () => {
    expect(BUILTIN_PROVIDER_NAMES).toEqual(BUILTINS);
    for (const d of BUILTIN_PROVIDERS) expect(d.adapter.name).toBe(d.name);
    expect(PROVIDER_NAMES).toEqual(BUILTINS);
    expect(MATRIX_PROVIDERS).toEqual(BUILTINS);
    expect(REPLAY_PROVIDERS).toEqual(BUILTINS);
    expect(adapterNames()).toEqual(BUILTINS);
  });

  it('env var names and default base URLs come from the descriptors', () => {
    expect(DEFAULT_BASE_URLS).toEqual(Object.fromEntries(BUILTIN_PROVIDERS.map((d) => [d.name, d.defaultBaseUrl])));
    const config = loadConfig({ XAI_API_KEY: 'xk', XAI_BASE_URL: 'http://x.test/v1/', OLLAMA_BASE_URL: 'http://ollama.test' });
    expect(config.providers.xai).toMatchObject({ apiKey: 'xk', baseUrl: 'http://x.test/v1' });
    expect(config.providers.ollama!.baseUrl).toBe('http://ollama.test');
    expect(config.providers.openai).toMatchObject({ apiKey: undefined, baseUrl: 'https://api.openai.com/v1' });
    expect(Object.keys(config.providers)).toEqual(BUILTINS);
  });

  it('the env tables of README.md and docs/architecture.md name every built-in env prefix', () => {
    for (const doc of ['README.md', 'docs/architecture.md']) {
      const row = readFileSync(doc, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('| `<PROVIDER>_API_KEY`'))!;
      expect(row, doc).toBeDefined();
      const prefixes = [...row.matchAll(/`([A-Z]+)_`/g)].map((m) => m[1]);
      expect(prefixes, doc).toEqual(BUILTIN_PROVIDERS.map((d) => d.envPrefix));
    }
  });

  it('model-name rules are per descriptor', () => {
    expect(modelNameProblem('gemini', 'gemini-2.5-flash:generateContent')).toMatch(/gemini model names/);
    expect(modelNameProblem('anthropic', 'ns/claude')).toMatch(/anthropic model names/);
    expect(modelNameProblem('groq', 'meta-llama/llama-4-scout')).toBeNull();
    // A declared provider (no descriptor without the file) gets the OpenAI rule.
    expect(modelNameProblem('together', 'org/model:tag')).toBeNull();
    expect(modelNameProblem('together', 'a/../b')).toMatch(/no '\.\.'/);
  });

  it('rate-limit headers are parsed by the provider that sent them', () => {
    const anthropicHeaders = {
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': new Date(10_000).toISOString(),
    };
    const openaiHeaders = { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1.5s' };
    const anthropic = getDescriptor('anthropic')!.rateLimits;
    const openai = getDescriptor('openai')!.rateLimits;
    expect(anthropic(anthropicHeaders, 4_000)).toBe(6_000);
    expect(anthropic(openaiHeaders, 0)).toBeUndefined();
    expect(openai(openaiHeaders, 0)).toBe(1_500);
    expect(openai(anthropicHeaders, 0)).toBeUndefined();
    expect(getDescriptor('gemini')!.rateLimits(openaiHeaders, 0)).toBeUndefined();
    expect(exhaustedForMs(200, openaiHeaders, 0, openai)).toBe(1_500);
    expect(exhaustedForMs(200, openaiHeaders, 0, anthropic)).toBeUndefined();
    // A 429 says "exhausted" whatever the provider.
    expect(exhaustedForMs(429, { 'retry-after': '2' }, 0, anthropic)).toBe(2_000);
  });
});

describe('a provider declared in the config file', () => {
  const file = parseConfigFile(DECLARED, { env: {} });

  it('parses: type, base URL without trailing slash, keys, models; aliases and prices may name it', () => {
    expect(file.providers.together).toEqual({
      type: 'openai-compatible',
      base_url: 'https://api.together.xyz/v1',
      api_keys: [{ key: 'sk-together', weight: 1 }],
      models: ['llama-3.3-70b'],
    });
    expect(file.models.cheap!.targets[0]).toMatchObject({ provider: 'together', model: 'llama-3.3-70b' });
    expect(file.prices['together/llama-3.3-70b']).toEqual({ input: 0.1, output: 0.3 });
  });

  it('joins the provider lists, served by the OpenAI adapter under its own name', () => {
    expect(providerNames(file)).toEqual([...BUILTINS, 'together']);
    expect(adapterNames(file)).toEqual([...BUILTINS, 'together']);
    const adapter = getAdapter('together', file)!;
    expect(adapter.name).toBe('together');
    expect(adapter.supportsEmbeddings).toBe(true);
    expect(getAdapter('together', file)).toBe(adapter);
    expect(getAdapter('together')).toBeUndefined();
    expect(getDescriptor('together', file)).toMatchObject({ envPrefix: 'TOGETHER', defaultModels: ['llama-3.3-70b'] });
  });

  it('routes `together/<model>` only when declared', () => {
    expect(resolveRoute('together/llama-3.3-70b', 'openai', file)).toMatchObject({
      provider: 'together',
      model: 'llama-3.3-70b',
    });
    expect(() => resolveRoute('together/llama-3.3-70b', 'openai', null)).toThrow(/does not exist|not found/i);
  });

  it('counts as a real upstream (it has a base URL), with its own key pool', () => {
    expect(planProviders({}, file, 'production', undefined)).toMatchObject({ together: 'real', openai: 'not_configured' });
    const config = loadConfig({});
    config.file = file;
    config.providers.together = { name: 'together', baseUrl: 'https://api.together.xyz/v1', apiKey: 'sk-together' };
    const keys = new UpstreamKeys(config);
    expect(keys.pick('together', 'm').key).toBe('sk-together');
  });
});

describe('a declared provider whose key variable is unset', () => {
  const text = [
    'providers:',
    '  together:',
    '    type: openai-compatible',
    '    base_url: https://api.together.xyz/v1',
    '    api_keys: [{ key: "${TOGETHER_API_KEY}" }]',
    'models:',
    '  cheap: { targets: [{ model: together/small }, { model: openai/gpt-4o-mini }] }',
  ].join('\n');

  it('stays declared, so aliases naming it still load, but is not configured (503, and an alias falls back)', () => {
    const file = parseConfigFile(text, { env: {} });
    expect(file.providers.together).toMatchObject({ type: 'openai-compatible', api_keys: [], keysUnset: true });
    expect(file.skipped).toContain(
      'config: provider together not configured: TOGETHER_API_KEY not set (requests to it answer 503 provider_not_configured)',
    );
    expect(file.models.cheap!.targets.map((t) => t.provider)).toEqual(['together', 'openai']);
    expect(planProviders({}, file, 'development', 'http://sim.test')).toMatchObject({ together: 'not_configured', openai: 'simulator' });
    expect(providerNames(file)).toContain('together');
  });

  it('with the variable set it is a real upstream', () => {
    const file = parseConfigFile(text, { env: { TOGETHER_API_KEY: 'sk-m' } });
    expect(file.providers.together!.keysUnset).toBeUndefined();
    expect(planProviders({}, file, 'production', undefined).together).toBe('real');
  });
});

describe('config validation of declared providers', () => {
  it('an unknown type is an error at the type, with line and column', () => {
    const err = failing(['providers:', '  together:', '    type: anthropic-compatible', '    base_url: https://x.test/v1'].join('\n'));
    expect(err.issues).toEqual([
      expect.objectContaining({
        path: 'providers.together.type',
        line: 3,
        col: 11,
        message: expect.stringMatching(/unknown provider type 'anthropic-compatible'.*openai-compatible/),
      }),
    ]);
    expect(err.message).toContain('bad.yaml:3:11: providers.together.type:');
  });

  it('a declared provider needs a base_url', () => {
    const err = failing(['providers:', '  together:', '    type: openai-compatible'].join('\n'));
    expect(err.issues[0]).toMatchObject({ path: 'providers.together.base_url', line: 3, message: 'missing required field' });
  });

  it('a built-in provider takes no type', () => {
    const err = failing(['providers:', '  openai:', '    type: openai-compatible'].join('\n'));
    expect(err.issues[0]).toMatchObject({ path: 'providers.openai.type', line: 3, col: 5, message: "unknown field 'type'" });
  });

  it('a name without a type, or not usable as a name, is an unknown provider', () => {
    expect(failing(['providers:', '  together:', '    base_url: https://x.test'].join('\n')).issues[0]).toMatchObject({
      path: 'providers.together',
      line: 2,
      col: 3,
      message: expect.stringMatching(/unknown provider 'together'.*type: openai-compatible/),
    });
    for (const name of ['Mistral', 'constructor', 'my.llm']) {
      const err = failing(['providers:', `  ${name}:`, '    type: openai-compatible', '    base_url: https://x.test'].join('\n'));
      expect(err.issues[0]).toMatchObject({ path: `providers.${name}`, line: 2, message: expect.stringMatching(/unknown provider/) });
    }
  });

  it('an alias target naming an undeclared provider still fails', () => {
    const err = failing(['models:', '  a: { targets: [{ model: together/x }] }'].join('\n'));
    expect(err.issues[0]!.message).toMatch(/unknown provider/);
  });

  it('a declared model name follows the model-name rules', () => {
    const err = failing(
      ['providers:', '  m:', '    type: openai-compatible', '    base_url: https://x.test', '    models: [ok, "bad name"]'].join('\n'),
    );
    expect(err.issues[0]).toMatchObject({ path: 'providers.m.models[1]', line: 5 });
  });
});
