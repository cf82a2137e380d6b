// Every deployment manifest parses, and the scale-out shape holds without Docker or a cluster: the
// compose cluster file runs 3 NATS nodes routed to each other with R3 streams, two ingresses and a
// worker pool per provider; the Kubernetes manifests give every Deployment /healthz and /readyz probes
// and a PodDisruptionBudget, and NATS is the NATS chart with a 3-replica JetStream cluster. Where the
// docker-compose CLI is installed, `config -q` validates the compose file as well.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { containerCommand } from '../harness/npm-scripts.ts';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
}
interface Container {
  command: string[];
  env?: Array<{ name: string; value: string }>;
  ports?: Array<{ name: string; containerPort: number }>;
  livenessProbe?: { httpGet: { path: string; port: string } };
  readinessProbe?: { httpGet: { path: string; port: string } };
}

const K8S_DIR = 'deploy/k8s';
const yamlFiles = [
  'docker-compose.yml',
  ...readdirSync('deploy')
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join('deploy', f)),
  ...readdirSync(K8S_DIR).map((f) => join(K8S_DIR, f)),
];

function docsOf(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  for (const d of docs) expect(d.errors.map((e) => `${file}: ${e.message}`)).toEqual([]);
  return docs.map((d) => d.toJS() as unknown).filter((d) => d !== null);
}

const k8sObjects = readdirSync(K8S_DIR)
  .filter((f) => f !== 'nats-values.yaml' && f !== 'kustomization.yaml')
  .flatMap((f) => docsOf(join(K8S_DIR, f)) as K8sObject[]);
const byKind = (kind: string) => k8sObjects.filter((o) => o.kind === kind);
const labelsOf = (o: K8sObject) => (o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;

describe('deployment manifests', () => {
  it('every YAML file under deploy/ and the compose file parses', () => {
    expect(yamlFiles.length).toBeGreaterThan(8);
    for (const f of yamlFiles) expect(docsOf(f).length, f).toBeGreaterThan(0);
  });

  it('the kustomization names every manifest in deploy/k8s, and each object has apiVersion, kind and name', () => {
    const kustomization = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const manifests = readdirSync(K8S_DIR).filter((f) => f !== 'nats-values.yaml' && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(manifests.sort());
    for (const o of k8sObjects) {
      expect(o.apiVersion, JSON.stringify(o.metadata)).toMatch(/^(v1|apps\/v1|policy\/v1)$/);
      expect(o.metadata.name).toMatch(/^[a-z0-9-]+$/);
    }
  });

  it('ingress, a worker pool per provider, ledger and batch run with their entry points', () => {
    const commands = byKind('Deployment').map((d) => {
      const c = (d.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!;
      return `${d.metadata.name}: ${c.command.at(-1)} ${c.env?.find((e) => e.name === 'WORKER_PROVIDERS')?.value ?? ''}`.trim();
    });
    expect(commands).toEqual(
      expect.arrayContaining([
        'switchyard-ingress: dist/services/ingress/main.js',
        'switchyard-worker-openai: dist/services/worker/main.js openai',
        'switchyard-worker-anthropic: dist/services/worker/main.js anthropic',
        'switchyard-ledger: dist/services/ledger/main.js',
        'switchyard-batch: dist/services/batch/main.js',
      ]),
    );
  });

  it('ingress and worker Deployments run with the V8 flags of their npm scripts (package.json), and so does the image', () => {
    for (const d of byKind('Deployment')) {
      const c = (d.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!;
      const service = /^switchyard-(ingress|worker)\b/.exec(d.metadata.name)?.[1];
      if (service) expect(c.command, d.metadata.name).toEqual(containerCommand(service));
    }
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync('deploy/Dockerfile', 'utf8'))![1]!;
    expect(JSON.parse(cmd)).toEqual(containerCommand('ingress'));
  });

  it('every Deployment probes /healthz (liveness) and /readyz (readiness) on a port it declares, and has a PodDisruptionBudget', () => {
    const pdbs = byKind('PodDisruptionBudget');
    for (const d of byKind('Deployment')) {
      const spec = d.spec as {
        template: {
          metadata: { labels: Record<string, string> };
          spec: { containers: Container[]; terminationGracePeriodSeconds: number };
        };
      };
      const c = spec.template.spec.containers[0]!;
      expect(c.livenessProbe?.httpGet.path, d.metadata.name).toBe('/healthz');
      expect(c.readinessProbe?.httpGet.path, d.metadata.name).toBe('/readyz');
      expect(
        c.ports?.map((p) => p.name),
        d.metadata.name,
      ).toContain(c.readinessProbe!.httpGet.port);
      // Room for DRAIN_TIMEOUT_MS (30 s) before the kubelet's SIGKILL.
      expect(spec.template.spec.terminationGracePeriodSeconds, d.metadata.name).toBeGreaterThan(30);
      expect(labelsOf(d)).toEqual(spec.template.metadata.labels);
      const pdb = pdbs.find((p) => JSON.stringify(labelsOf(p)) === JSON.stringify(labelsOf(d)));
      expect(pdb, `PodDisruptionBudget for ${d.metadata.name}`).toBeDefined();
    }
  });

  it('the pods use R3 streams, every NATS pod, and the health port their probes use', () => {
    const [env] = docsOf(join(K8S_DIR, 'switchyard-env.yaml')) as Array<{ data: Record<string, string> }>;
    expect(env!.data.NATS_STREAM_REPLICAS).toBe('3');
    expect(env!.data.NATS_URL!.split(',')).toHaveLength(3);
    expect(env!.data.HEALTH_PORT).toBe('9000');
  });

  it('NATS: the official chart values for a 3-replica JetStream cluster', () => {
    const values = parse(readFileSync(join(K8S_DIR, 'nats-values.yaml'), 'utf8')) as {
      config: { cluster: { enabled: boolean; replicas: number }; jetstream: { enabled: boolean } };
    };
    expect(values.config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(values.config.jetstream.enabled).toBe(true);
  });
});

describe('the compose files', () => {
  // A process that dies is started again, nats-server included: the services put back what a
  // restarted nats-server lost (shared/nats/topology-keeper.ts, docs/scaling.md).
  it.each(['docker-compose.yml', 'deploy/docker-compose.cluster.yml'])('%s restarts every service that dies', (file) => {
    const compose = parse(readFileSync(file, 'utf8'), { merge: true }) as {
      services: Record<string, { restart?: string; profiles?: string[] }>;
    };
    // The observability profile's tools (Prometheus, Grafana, Jaeger) are the operator's to run.
    const served = Object.entries(compose.services).filter(([, svc]) => !svc.profiles?.includes('observability'));
    expect(served.map(([name]) => name)).toEqual(expect.arrayContaining(['postgres', 'ledger', 'batch']));
    for (const [name, svc] of served) expect(svc.restart, `${file}: ${name}`).toBe('unless-stopped');
  });
});

describe('deploy/docker-compose.cluster.yml', () => {
  const file = 'deploy/docker-compose.cluster.yml';
  const compose = parse(readFileSync(file, 'utf8'), { merge: true }) as {
    services: Record<string, { command?: string[]; environment?: Record<string, string | null> }>;
  };
  const natsConf = readFileSync('deploy/nats-cluster.conf', 'utf8');

  it('3 NATS nodes routed to each other, two ingresses, a worker pool per provider, ledger and batch', () => {
    const names = Object.keys(compose.services);
    expect(names.filter((n) => n.startsWith('nats-'))).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const n of ['nats-1', 'nats-2', 'nats-3']) expect(natsConf).toContain(`nats://${n}:6222`);
    expect(names.filter((n) => n.startsWith('ingress-'))).toHaveLength(2);
    expect(names.filter((n) => n.startsWith('worker-')).length).toBeGreaterThanOrEqual(2);
    for (const n of ['postgres', 'ledger', 'batch']) expect(names).toContain(n);
  });

  it('ingresses and workers run with the V8 flags of their npm scripts (package.json)', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      const service = /^(ingress|worker)-/.exec(name)?.[1];
      if (service) expect(svc.command, name).toEqual(containerCommand(service));
    }
  });

  it('every Switchyard service connects to all three nodes and creates streams R3', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (!svc.environment) continue;
      if (name === 'postgres') continue;
      expect(svc.environment.NATS_STREAM_REPLICAS, name).toBe('3');
      expect(svc.environment.NATS_URL!.split(','), name).toHaveLength(3);
      if (name.startsWith('worker-')) expect(svc.environment.WORKER_PROVIDERS, name).toBe(name.slice('worker-'.length));
    }
  });

  it.runIf(spawnSync('sh', ['-c', 'command -v docker-compose']).status === 0)('docker-compose config -q accepts it', () => {
    const r = spawnSync('docker-compose', ['-f', file, 'config', '-q'], {
      encoding: 'utf8',
      env: { ...process.env, BOOTSTRAP_API_KEY: 'test-key' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
