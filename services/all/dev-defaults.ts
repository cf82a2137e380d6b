// What `npm start` does before the services boot, in development mode: find out whether any
// provider needs its simulator, and make sure an API key exists without a well-known default.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../shared/config/env.ts';
import { loadConfigFile } from '../../shared/config/file.ts';
import { planProviders } from '../../shared/config/providers.ts';

/** True when some provider has neither key nor endpoint, so development mode serves it from a simulator. */
export function simulatorsNeeded(env: NodeJS.ProcessEnv): boolean {
  const config = loadConfig(env);
  if (config.SWITCHYARD_MODE !== 'development') return false;
  const plan = planProviders(env, loadConfigFile(undefined, env), 'development', 'http://simulator.invalid');
  return Object.values(plan).includes('simulator');
}

export interface BootstrapKey {
  key: string;
  /** The file it is kept in. */
  path: string;
  /** Made on this start (print it); false: read from an earlier start. */
  created: boolean;
}

/**
 * The key `npm start` creates the default tenant with when BOOTSTRAP_API_KEY is unset: random on the
 * first start, then read back from `<dataDir>/bootstrap-key` (mode 0600) so it survives restarts.
 */
export function devBootstrapKey(dataDir: string): BootstrapKey {
  const path = join(dataDir, 'bootstrap-key');
  try {
    const key = readFileSync(path, 'utf8').trim();
    if (key) return { key, path, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = `sk-sy-${randomBytes(24).toString('base64url')}`;
  try {
    // wx: two starts racing must not overwrite each other's key; the loser uses the winner's.
    writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { key: readFileSync(path, 'utf8').trim(), path, created: false };
    throw err;
  }
  chmodSync(path, 0o600); // the umask may have narrowed it already; never widened
  return { key, path, created: true };
}
