// Stream replicas come from NATS_STREAM_REPLICAS: 1 on a single server, 3 on a 3-node cluster.
import { describe, expect, it } from 'vitest';
import { streamConfigs, STREAMS } from '../../shared/nats/topology.ts';
import { loadConfig } from '../../shared/config/env.ts';

describe('stream replicas', () => {
  it('every stream has one replica by default', () => {
    const configs = streamConfigs({ providers: ['openai'] });
    expect(configs.map((c) => c.name).sort()).toEqual(Object.values(STREAMS).sort());
    for (const c of configs) expect(c.num_replicas, c.name).toBe(1);
  });

  it('every stream takes the replicas option', () => {
    for (const c of streamConfigs({ providers: ['openai'], replicas: 3 })) expect(c.num_replicas, c.name).toBe(3);
  });

  it('NATS_STREAM_REPLICAS is read from the environment and bounded', () => {
    expect(loadConfig({}).NATS_STREAM_REPLICAS).toBe(1);
    expect(loadConfig({ NATS_STREAM_REPLICAS: '3' }).NATS_STREAM_REPLICAS).toBe(3);
    expect(() => loadConfig({ NATS_STREAM_REPLICAS: '0' })).toThrow(/NATS_STREAM_REPLICAS/);
    expect(() => loadConfig({ NATS_STREAM_REPLICAS: '7' })).toThrow(/NATS_STREAM_REPLICAS/);
  });
});
