// The YAML config file: schema, error positions, `${ENV}` interpolation, alias resolution, prices.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigFileError,
  loadConfigFile,
  parseConfigFile,
  priceBookFromConfig,
  resolveAlias,
  type FileConfig,
} from '../../shared/config/file.ts';

const EXAMPLE_ENV = { OPENAI_API_KEY: 'sk-one', OPENAI_API_KEY_2: 'sk-two', ANTHROPIC_API_KEY: 'sk-ant', GROQ_API_KEY: 'gsk' };

/** Parses and returns the ConfigFileError it must throw. */
function failing(text: string, env: Record<string, string> = {}): ConfigFileError {
  try {
    parseConfigFile(text, { source: 'bad.yaml', env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigFileError);
    return err as ConfigFileError;
  }
  throw new Error('expected the config file to be rejected');
}

/** A deterministic PRNG (mulberry32), so the distribution test cannot flake. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('valid files', () => {
  it('the example file in deploy/ loads', () => {
    const c = loadConfigFile('deploy/switchyard.example.yaml', EXAMPLE_ENV)!;
    expect(c.providers.openai!.api_keys).toEqual([
      { key: 'sk-one', weight: 1 },
      { key: 'sk-two', weight: 2, rpm: 500, tpm: 2_000_000 },
    ]);
    expect(c.providers.openai!.base_url).toBe('https://api.openai.com/v1');
    expect(c.providers.ollama).toEqual({ base_url: 'http://localhost:11434', api_keys: [] });
    expect(c.models.smart).toEqual({
      strategy: 'ordered',
      targets: [
        { provider: 'anthropic', model: 'claude-sonnet-4-5', weight: 1 },
        { provider: 'openai', model: 'gpt-4o', weight: 1 },
      ],
    });
    expect(c.models.fast!.strategy).toBe('weighted');
    expect(c.prices['groq/llama-3.3-70b-versatile']).toEqual({ input: 0.59, output: 0.79 });
  });

  it('normalises shorthand keys, trims base URL slashes, and an empty file is an empty config', () => {
    const c = parseConfigFile(
      [
        'providers:',
        '  xai:',
        '    base_url: https://api.x.ai/v1///',
        '    api_keys: [k1, {key: k2, weight: 0.5}]',
        'models:',
        '  m:',
        '    targets:',
        '      - model: groq/meta-llama/with/slashes',
      ].join('\n'),
    );
    expect(c.providers.xai).toEqual({
      base_url: 'https://api.x.ai/v1',
      api_keys: [
        { key: 'k1', weight: 1 },
        { key: 'k2', weight: 0.5 },
      ],
    });
    expect(c.models.m!.targets).toEqual([{ provider: 'groq', model: 'meta-llama/with/slashes', weight: 1 }]);
    expect(parseConfigFile('')).toEqual({ providers: {}, models: {}, prices: {} });
    expect(parseConfigFile('# only a comment\n')).toEqual({ providers: {}, models: {}, prices: {} });
  });

  it('loadConfigFile reads SWITCHYARD_CONFIG, is null without it, and names an unreadable path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-config-'));
    const file = join(dir, 'sy.yaml');
    writeFileSync(file, 'prices:\n  openai/gpt-x: {input: 1, output: 2}\n');
    expect(loadConfigFile(undefined, {})).toBeNull();
    expect(loadConfigFile(undefined, { SWITCHYARD_CONFIG: file })!.prices['openai/gpt-x']).toEqual({ input: 1, output: 2 });
    expect(() => loadConfigFile(join(dir, 'missing.yaml'), {})).toThrow(/missing\.yaml.*ENOENT/);
  });
});

describe('invalid files point at the line and column', () => {
  const text = [
    'providers:', //                                1
    '  openai:', //                                 2
    '    api_keys:', //                             3
    '      - key: sk-1', //                         4
    '        weight: heavy', //                     5
    '  openia:', //                                 6
    '    api_keys: [x]', //                         7
    'models:', //                                   8
    '  fast:', //                                   9
    '    targets:', //                              10
    '      - model: openai/gpt-4o-mini', //         11
    '      - model: gpt-4o', //                     12
    '  empty:', //                                  13
    '    strategy: weighted', //                    14
    'pricez: {}', //                                15
  ].join('\n');

  it('reports every issue with file:line:col, path and the source line', () => {
    const err = failing(text);
    const byPath = Object.fromEntries(err.issues.map((i) => [i.path, i]));
    expect(byPath['providers.openai.api_keys[0].weight']).toMatchObject({ line: 5, col: 17 });
    expect(byPath['providers.openia']).toMatchObject({ line: 6, col: 3 });
    expect(byPath['providers.openia']!.message).toMatch(/unknown provider 'openia'.*openai/);
    expect(byPath['models.fast.targets[1].model']).toMatchObject({ line: 12, col: 16 });
    expect(byPath['models.fast.targets[1].model']!.message).toMatch(/<provider>\/<model>/);
    expect(byPath['models.empty.targets']).toMatchObject({ line: 14, message: 'missing required field' });
    expect(byPath.pricez).toMatchObject({ line: 15, col: 1, message: "unknown field 'pricez'" });
    expect(err.message).toContain('bad.yaml:5:17: providers.openai.api_keys[0].weight:');
    expect(err.message).toContain('     5 |         weight: heavy');
  });

  it('YAML syntax errors carry their position', () => {
    const err = failing('models:\n  fast:\n    targets: [\n  other: 1\n');
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.line).toBeGreaterThanOrEqual(3);
    expect(err.message).toMatch(/^invalid config file bad\.yaml:\nbad\.yaml:\d+:\d+: /);
    expect(failing('a: 1\na: 2\n').issues[0]).toMatchObject({ line: 2, col: 1 });
  });

  it('rejects unknown target providers, alias names that shadow direct routes, bad price keys', () => {
    const err = failing(
      [
        'models:',
        '  openai/mine:',
        '    targets: [{model: openai/gpt-4o}]',
        '  x:',
        '    targets: [{model: nope/m}]',
        'prices:',
        '  gpt-4o: {input: 1, output: 1}',
      ].join('\n'),
    );
    expect(err.issues.map((i) => [i.path, i.line])).toEqual([
      ['models.openai/mine', 2],
      ['models.x.targets[0].model', 5],
      ['prices.gpt-4o', 7],
    ]);
    expect(err.issues[1]!.message).toMatch(/unknown provider/);
  });

  it('a weight on an ordered alias is an error (it would be silently ignored)', () => {
    const err = failing(['models:', '  a:', '    targets:', '      - model: openai/gpt-4o', '        weight: 2'].join('\n'));
    expect(err.issues).toEqual([expect.objectContaining({ path: 'models.a.targets[0].weight', line: 5 })]);
  });
});

describe('${ENV} interpolation', () => {
  const env = { KEY: 'sk-live', RPM: '120', EMPTY: '' };

  it('replaces references in values, with defaults and an escape', () => {
    const c = parseConfigFile(
      [
        'providers:',
        '  openai:',
        '    base_url: ${BASE:-https://proxy.internal/v1}',
        '    api_keys:',
        '      - ${KEY}',
        '      - key: prefix-${KEY}-${EMPTY:-fallback}',
        '        rpm: ${RPM}',
        '      - key: "$${NOT_A_VAR}"',
      ].join('\n'),
      { env },
    );
    expect(c.providers.openai).toEqual({
      base_url: 'https://proxy.internal/v1',
      api_keys: [
        { key: 'sk-live', weight: 1 },
        { key: 'prefix-sk-live-fallback', weight: 1, rpm: 120 },
        { key: '${NOT_A_VAR}', weight: 1 },
      ],
    });
  });

  it('a quoted reference stays a string; keys are not interpolated', () => {
    const quoted = failing('providers:\n  openai:\n    api_keys:\n      - key: k\n        rpm: "${RPM}"\n', env);
    expect(quoted.issues[0]).toMatchObject({ path: 'providers.openai.api_keys[0].rpm', line: 5 });
    expect(failing('${KEY}: 1\n', env).issues[0]!.message).toBe("unknown field '${KEY}'");
  });

  it('an unset variable without a default is an error at its line (outside upstream keys)', () => {
    const err = failing('providers:\n  anthropic:\n    base_url: ${ANTHROPIC_URL}\n    api_keys: [k]\n', env);
    expect(err.issues).toEqual([expect.objectContaining({ line: 3, col: 15 })]);
    expect(err.issues[0]!.message).toMatch(/ANTHROPIC_URL is not set/);
  });

  it('an upstream key whose variable is unset or empty is skipped, and so is a provider left without keys', () => {
    const c = parseConfigFile(
      [
        'providers:',
        '  anthropic:',
        '    api_keys:',
        '      - ${ANTHROPIC_KEY}',
        '  openai:',
        '    api_keys:',
        '      - ${KEY}',
        '      - key: ${EMPTY}',
        '        rpm: ${UNSET_RPM}', // inside a skipped entry: never interpolated, so no error
        '  groq:',
        '    api_keys: ["${GROQ_KEY:-gsk-default}"]', // a default is a value, not a missing key
      ].join('\n'),
      { env },
    );
    expect(Object.keys(c.providers).sort()).toEqual(['groq', 'openai']);
    expect(c.providers.openai!.api_keys).toEqual([{ key: 'sk-live', weight: 1 }]);
    expect(c.providers.groq!.api_keys).toEqual([{ key: 'gsk-default', weight: 1 }]);
    expect(c.skipped).toEqual([
      'config: providers.anthropic.api_keys[0] skipped: ANTHROPIC_KEY is not set',
      'config: provider anthropic skipped: ANTHROPIC_KEY not set',
      'config: providers.openai.api_keys[1] skipped: EMPTY is not set',
    ]);
  });

  it('the example file loads with only the key of the one provider in use', () => {
    const c = loadConfigFile('deploy/switchyard.example.yaml', { OPENAI_API_KEY: 'sk-one' })!;
    expect(c.providers.openai!.api_keys).toEqual([{ key: 'sk-one', weight: 1 }]);
    expect(c.providers.anthropic).toBeUndefined();
    expect(c.providers.groq).toBeUndefined();
    expect(c.providers.ollama).toEqual({ base_url: 'http://localhost:11434', api_keys: [] });
    // Aliases may still name skipped providers: such a target answers provider_not_configured (or falls back).
    expect(c.models.smart!.targets[0]!.provider).toBe('anthropic');
    expect(c.skipped).toEqual([
      'config: providers.openai.api_keys[1] skipped: OPENAI_API_KEY_2 is not set',
      'config: providers.anthropic.api_keys[0] skipped: ANTHROPIC_API_KEY is not set',
      'config: provider anthropic skipped: ANTHROPIC_API_KEY not set',
      'config: providers.groq.api_keys[0] skipped: GROQ_API_KEY is not set',
      'config: provider groq skipped: GROQ_API_KEY not set',
    ]);
    // And with no key at all it still loads: a development start serves every provider from its simulator.
    expect(Object.keys(loadConfigFile('deploy/switchyard.example.yaml', {})!.providers)).toEqual(['ollama']);
  });
});

describe('resolveAlias', () => {
  const config: FileConfig = parseConfigFile(
    [
      'models:',
      '  smart:',
      '    targets:',
      '      - model: anthropic/claude-sonnet-4-5',
      '      - model: openai/gpt-4o',
      '      - model: gemini/gemini-2.5-pro',
      '  fast:',
      '    strategy: weighted',
      '    targets:',
      '      - {model: openai/gpt-4o-mini, weight: 3}',
      '      - {model: groq/llama-3.3-70b-versatile, weight: 1}',
    ].join('\n'),
  );

  it('ordered: the listed order, primary first', () => {
    expect(resolveAlias(config, 'smart')!.map((t) => `${t.provider}/${t.model}`)).toEqual([
      'anthropic/claude-sonnet-4-5',
      'openai/gpt-4o',
      'gemini/gemini-2.5-pro',
    ]);
  });

  it('null for direct routes, unknown names and prototype property names', () => {
    for (const m of ['openai/gpt-4o', 'gpt-4o', 'constructor', '__proto__', 'toString']) expect(resolveAlias(config, m)).toBeNull();
  });

  it('returns a copy: callers may not corrupt the config', () => {
    resolveAlias(config, 'smart')![0]!.model = 'changed';
    expect(resolveAlias(config, 'smart')![0]!.model).toBe('claude-sonnet-4-5');
  });

  it('weighted: the draw picks the primary by weight and keeps the rest as fallbacks', () => {
    expect(resolveAlias(config, 'fast', () => 0)!.map((t) => t.provider)).toEqual(['openai', 'groq']);
    expect(resolveAlias(config, 'fast', () => 0.74)!.map((t) => t.provider)).toEqual(['openai', 'groq']);
    expect(resolveAlias(config, 'fast', () => 0.76)!.map((t) => t.provider)).toEqual(['groq', 'openai']);
    const rnd = seeded(42);
    let openaiFirst = 0;
    const n = 20_000;
    let complete = 0;
    for (let i = 0; i < n; i++) {
      const order = resolveAlias(config, 'fast', rnd)!;
      if (order.length === 2 && order[0]!.provider !== order[1]!.provider) complete++;
      if (order[0]!.provider === 'openai') openaiFirst++;
    }
    expect(complete).toBe(n);
    expect(openaiFirst / n).toBeGreaterThan(0.73);
    expect(openaiFirst / n).toBeLessThan(0.77);
  });
});

describe('prices', () => {
  it('file prices override and extend the built-in price book', () => {
    const c = parseConfigFile(
      'prices:\n  openai/gpt-4o-mini: {input: 1, output: 2}\n  ollama/llama3.2: {input: 0.5, cached_input: 0.1, output: 0}\n',
    );
    const book = priceBookFromConfig(c);
    expect(book.cost('openai', 'gpt-4o-mini', { input: 1_000_000, cached: 0, output: 1_000_000 })).toBe(3);
    expect(book.cost('ollama', 'llama3.2', { input: 2_000_000, cached: 1_000_000, output: 5 })).toBe(0.6);
    // Untouched defaults remain.
    expect(book.get('anthropic', 'claude-sonnet-4-5')).toBeDefined();
    expect(priceBookFromConfig(null).get('openai', 'gpt-4o-mini')!.input).toBe(0.15);
  });
});
