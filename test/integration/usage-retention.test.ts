// LLM_USAGE keeps a usage record only until the ledger has stored it (interest retention). Under
// limits retention it kept every record for its 7-day max age after that: ~550 bytes of nats-server
// disk per request (docs/benchmarks.md). A stream made by an earlier version moves to interest at the
// next start on nats-server 2.10 and later; on 2.9 it keeps limits and the start says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { startStack, type Stack } from '../harness/stack.ts';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { waitFor } from '../harness/ports.ts';
import { ensureTopology, STREAMS, streamConfigs, topologyDrift } from '../../shared/nats/topology.ts';

describe('LLM_USAGE under a running ledger', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  }, 60_000);
  afterAll(async () => stack?.close());

  it('holds no record the ledger has stored', async () => {
    const jsm = stack.runtime.nats.jsm;
    expect((await jsm.streams.info(STREAMS.usage)).config.retention).toBe(RetentionPolicy.Interest);
    const before = (await jsm.streams.info(STREAMS.usage)).state.last_seq;
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${stack.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `usage ${i}` }] }),
      });
      expect(res.status).toBe(200);
      ids.push(res.headers.get('x-request-id')!);
    }
    await waitFor(
      async () => {
        const rows = await stack.db.selectFrom('usage').select('request_id').where('request_id', 'in', ids).execute();
        return rows.length === ids.length;
      },
      { what: 'the usage rows' },
    );
    const { state } = await waitFor(
      async () => {
        const info = await jsm.streams.info(STREAMS.usage);
        return info.state.messages === 0 ? info : undefined;
      },
      { what: 'LLM_USAGE to be empty once the ledger acked' },
    );
    // The records did pass through it.
    expect(state.last_seq).toBeGreaterThan(before);
  });
});

describe('an LLM_USAGE made by an earlier version (limits retention)', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('moves to interest at the next start where nats-server allows it, and is reported where it does not', async () => {
    const jsm = await jetstreamManager(nc);
    const usage = streamConfigs({ providers: ['openai'] }).find((s) => s.name === STREAMS.usage)!;
    await jsm.streams.add({ ...usage, retention: RetentionPolicy.Limits });
    // An LLM_EVENTS of the old storage too.
    const events = streamConfigs({ providers: ['openai'] }).find((s) => s.name === STREAMS.events)!;
    await jsm.streams.add({ ...events, storage: StorageType.Memory });

    await ensureTopology(jsm, { providers: ['openai'] });
    const [major, minor] = nc.info!.version.split('.').map(Number) as [number, number];
    const movable = major > 2 || (major === 2 && minor >= 10);
    expect((await jsm.streams.info(STREAMS.usage)).config.retention).toBe(movable ? RetentionPolicy.Interest : RetentionPolicy.Limits);
    const drift = await topologyDrift(jsm, { providers: ['openai'] });
    expect(drift).toContain(`${STREAMS.events}: memory storage (file wanted)`);
    if (movable) expect(drift.some((d) => d.startsWith(STREAMS.usage))).toBe(false);
    else expect(drift).toContain(`${STREAMS.usage}: limits retention (interest wanted)`);
  });
});
