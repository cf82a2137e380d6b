// Safe, honest defaults: which upstream each provider gets per mode, the listen address per mode,
// and the bootstrap key `npm start` makes instead of a well-known one.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/env.ts';
import { parseConfigFile } from '../../shared/config/file.ts';
import { applyProviderPlan, assertRouteConfigured } from '../../shared/config/providers.ts';
import { ApiError } from '../../shared/protocol/errors.ts';
import { devBootstrapKey, simulatorsNeeded } from '../../services/all/dev-defaults.ts';

const SIM = 'http://127.0.0.1:9999';

function plan(env: Record<string, string>, fileText?: string) {
  const config = loadConfig(env);
  config.file = fileText ? parseConfigFile(fileText, { env }) : null;
  const lines = applyProviderPlan(config, env);
  return { config, lines: Object.fromEntries(lines.map((l) => [l.provider, l.line])) };
}

describe('providers per mode', () => {
  it('development: one key set -> that provider is real, every other one answers from its simulator', () => {
    const { config, lines } = plan({ SWITCHYARD_MODE: 'development', SIMULATOR_URL: `${SIM}/`, OPENAI_API_KEY: 'sk-real' });
    expect(config.providers.openai).toMatchObject({ baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-real', simulated: false });
    expect(config.providers.anthropic).toMatchObject({ baseUrl: `${SIM}/anthropic`, simulated: true, configured: true });
    expect(config.providers.gemini!.baseUrl).toBe(`${SIM}/gemini/v1beta`);
    expect(config.providers.groq!.baseUrl).toBe(`${SIM}/groq/openai/v1`);
    expect(config.providers.xai!.baseUrl).toBe(`${SIM}/xai/v1`);
    expect(config.providers.ollama).toMatchObject({ baseUrl: `${SIM}/ollama`, simulated: true });
    expect(lines.openai).toBe('openai: real upstream https://api.openai.com/v1');
    expect(lines.anthropic).toBe('anthropic: simulator (no ANTHROPIC_API_KEY)');
    expect(lines.ollama).toBe('ollama: simulator (no OLLAMA_BASE_URL)');
  });

  it('production (the default): a provider without key is not configured, never simulated', () => {
    const { config, lines } = plan({ SIMULATOR_URL: SIM, OPENAI_API_KEY: 'sk-real' });
    expect(config.SWITCHYARD_MODE).toBe('production');
    expect(config.providers.openai).toMatchObject({ configured: true, simulated: false });
    expect(config.providers.anthropic).toMatchObject({ configured: false, simulated: false, baseUrl: 'https://api.anthropic.com' });
    expect(lines.anthropic).toMatch(/^anthropic: not configured \(no ANTHROPIC_API_KEY; requests to it answer 503/);
    // Ollama takes no key: its default endpoint is the local server.
    expect(lines.ollama).toBe('ollama: real upstream http://localhost:11434');
    let err: unknown;
    try {
      assertRouteConfigured(config, [{ provider: 'anthropic' }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).toBody().error).toMatchObject({ code: 'provider_not_configured', type: 'server_error', param: 'model' });
    expect((err as ApiError).status).toBe(503);
    // An alias with one configured target is still routable (the worker skips the other).
    expect(() => assertRouteConfigured(config, [{ provider: 'anthropic' }, { provider: 'openai' }])).not.toThrow();
  });

  it('development without a simulator URL does not pretend: the provider is not configured', () => {
    const { config } = plan({ SWITCHYARD_MODE: 'development' });
    expect(config.providers.gemini!.configured).toBe(false);
  });

  it('a base URL without a key, or a key from the config file, makes a provider real', () => {
    const { config, lines } = plan(
      { SWITCHYARD_MODE: 'development', SIMULATOR_URL: SIM, GROQ_BASE_URL: 'http://proxy.internal/v1', FILE_KEY: 'sk-ant' },
      'providers:\n  anthropic:\n    api_keys: ["${FILE_KEY}"]\n  gemini:\n    api_keys: ["${GEMINI_UNSET}"]\n',
    );
    expect(lines.groq).toBe('groq: real upstream http://proxy.internal/v1');
    expect(config.providers.anthropic!.simulated).toBe(false);
    // Skipped in the file (key unset) -> simulated like any provider without a key.
    expect(config.providers.gemini!.simulated).toBe(true);
  });

  it('the listen address is loopback in development and every interface in production, unless HOST says', () => {
    expect(loadConfig({ SWITCHYARD_MODE: 'development' }).HOST).toBe('127.0.0.1');
    expect(loadConfig({}).HOST).toBe('0.0.0.0');
    expect(loadConfig({ SWITCHYARD_MODE: 'development', HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
    expect(() => loadConfig({ SWITCHYARD_MODE: 'staging' })).toThrow(/SWITCHYARD_MODE/);
  });

  it('npm start starts the simulators only when some provider needs one', () => {
    const all = {
      OPENAI_API_KEY: 'a',
      ANTHROPIC_API_KEY: 'b',
      GEMINI_API_KEY: 'c',
      GROQ_API_KEY: 'd',
      XAI_API_KEY: 'e',
      MISTRAL_API_KEY: 'f',
    };
    expect(simulatorsNeeded({ SWITCHYARD_MODE: 'development', ...all, OLLAMA_BASE_URL: 'http://gpu:11434' })).toBe(false);
    expect(simulatorsNeeded({ SWITCHYARD_MODE: 'development', ...all })).toBe(true); // ollama
    expect(simulatorsNeeded({ SWITCHYARD_MODE: 'production' })).toBe(false);
  });
});

describe('bootstrap key of a development start', () => {
  it('is random, made once, kept with mode 0600 and read back on the next start', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sy-key-')), 'data');
    const first = devBootstrapKey(dir);
    expect(first.created).toBe(true);
    expect(first.key).toMatch(/^sk-sy-[A-Za-z0-9_-]{32}$/);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    expect(readFileSync(first.path, 'utf8').trim()).toBe(first.key);
    const again = devBootstrapKey(dir);
    expect(again).toEqual({ key: first.key, path: first.path, created: false });
    expect(devBootstrapKey(mkdtempSync(join(tmpdir(), 'sy-key-'))).key).not.toBe(first.key);
  });
});
