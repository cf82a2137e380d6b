// docker-compose.yml is checked without Docker: every service the README names runs with the
// command of its package.json script, no key has a default, and nothing points at the simulators
// unless the user opts in. Where the docker-compose CLI is installed (`apt-get install docker-compose`;
// `config` needs no Docker engine) it validates the file as well.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { containerCommand } from '../harness/npm-scripts.ts';

interface Service {
  command?: string[];
  environment?: Record<string, string | null>;
  profiles?: string[];
  ports?: string[];
  depends_on?: unknown;
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };
const SWITCHYARD_SERVICES = ['ingress', 'worker', 'ledger', 'batch'];

describe('docker-compose.yml', () => {
  it('runs every service, batch included, with the command of its npm script', () => {
    for (const name of [...SWITCHYARD_SERVICES, 'mock-providers']) {
      const svc = compose.services[name];
      expect(svc, name).toBeDefined();
      // The image runs the compiled copy directly (it has no TypeScript to build with; deploy/Dockerfile).
      expect(svc!.command, name).toEqual(containerCommand(name));
    }
    expect(compose.services.batch!.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
  });

  it('has no default keys: BOOTSTRAP_API_KEY is required, ADMIN_API_KEY and provider keys only pass through', () => {
    for (const name of SWITCHYARD_SERVICES) {
      const env = compose.services[name]!.environment!;
      expect(env.BOOTSTRAP_API_KEY, name).toMatch(/^\$\{BOOTSTRAP_API_KEY:\?[^}]+\}$/);
      for (const [k, v] of Object.entries(env)) {
        // Every key and endpoint is either required from the environment or passed through unset.
        if (/_API_KEY$|_BASE_URL$|^SIMULATOR_URL$|^SWITCHYARD_MODE$/.test(k) && k !== 'BOOTSTRAP_API_KEY')
          expect(v, `${name} ${k}`).toBeNull();
      }
      expect(JSON.stringify(env), name).not.toMatch(/sk-local|mock-providers/);
    }
  });

  it('the simulators are opt-in (profile), and only the ingress is published on every interface', () => {
    expect(compose.services['mock-providers']!.profiles).toEqual(['simulators']);
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const p of svc.ports ?? []) if (name !== 'ingress') expect(p, name).toMatch(/^127\.0\.0\.1:/);
    }
    expect(compose.services.ingress!.environment!.HOST).toBe('0.0.0.0');
  });

  const composeCli = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!composeCli)('docker-compose config accepts the file, and refuses it without BOOTSTRAP_API_KEY', () => {
    const run = (env: Record<string, string>) =>
      spawnSync('docker-compose', ['config', '-q'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
    const ok = run({ BOOTSTRAP_API_KEY: 'k' });
    expect(ok.status, ok.stderr).toBe(0);
    const missing = run({});
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/set BOOTSTRAP_API_KEY/);
  });
});
