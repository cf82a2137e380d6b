// The observability profile of docker-compose.yml is checked without Docker: Prometheus scrapes the
// ports the services really serve /metrics on, Grafana is provisioned with the dashboard, and every
// series the dashboard queries is one the code defines (a renamed metric breaks this test, not a
// panel nobody looks at until an incident).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Service {
  profiles?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string | null>;
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };
const prometheus = parse(readFileSync('deploy/prometheus.yml', 'utf8')) as {
  scrape_configs: Array<{ job_name: string; dns_sd_configs: Array<{ names: string[]; port: number }> }>;
};
const dashboard = JSON.parse(readFileSync('deploy/grafana/dashboards/switchyard.json', 'utf8')) as {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith('.ts') ? [p] : [];
  });
}
const definedMetrics = new Set(
  [...sources('shared'), ...sources('services')].flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/name: '(switchyard_\w+)'/g)].map((m) => m[1]!),
  ),
);

describe('observability deployment', () => {
  it('prometheus, grafana and jaeger run only under the observability profile, on loopback ports', () => {
    for (const name of ['prometheus', 'grafana', 'jaeger']) {
      const svc = compose.services[name]!;
      expect(svc.profiles, name).toEqual(['observability']);
      for (const p of svc.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/);
    }
    expect(compose.services.prometheus!.volumes).toContain('./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(compose.services.grafana!.volumes).toEqual(
      expect.arrayContaining([
        './deploy/grafana/provisioning:/etc/grafana/provisioning:ro',
        './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );
  });

  it('prometheus scrapes the ingress HTTP port and the worker metrics port the compose file sets', () => {
    const job = (n: string) => prometheus.scrape_configs.find((j) => j.job_name === n)!.dns_sd_configs[0]!;
    expect(job('switchyard-ingress')).toMatchObject({ names: ['ingress'], port: 8080 });
    expect(job('switchyard-worker')).toMatchObject({
      names: ['worker'],
      port: Number(compose.services.worker!.environment!.WORKER_METRICS_PORT),
    });
  });

  it('every series the dashboard queries is defined in the code', () => {
    expect(definedMetrics.size).toBeGreaterThan(15);
    const used = new Set(
      dashboard.panels.flatMap((p) =>
        p.targets.flatMap((t) => [...t.expr.matchAll(/\b(switchyard_\w+?)(?:_bucket|_sum|_count)?\b(?=[{[)\s])/g)].map((m) => m[1]!)),
      ),
    );
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((m) => !definedMetrics.has(m))).toEqual([]);
  });
});
