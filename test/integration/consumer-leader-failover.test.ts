// A long-lived consume() outlives the death of its consumer's leader. A pull request waits at the
// consumer's leader; when that nats-server dies, the pull dies with it, and nats.js only notices after
// two missed idle heartbeats (expires / 2 each), 30 s with its default expiry: that long, a worker
// connected to a surviving node got nothing (redelivered streams waited 15-41 s in cluster.test.ts).
// consumeOptions (shared/nats/topology.ts), which every durable consume uses, bounds it: raced here against a
// consume with the defaults, both consumers led by the node that is killed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, type JsMsg } from '@nats-io/jetstream';
import { startNatsCluster, type NatsCluster } from '../harness/nats-server.ts';
import { waitFor } from '../harness/ports.ts';
import { connectNats, type Nats } from '../../shared/nats/connection.ts';
import { consumeOptions } from '../../shared/nats/topology.ts';
import { retryPublish } from '../../shared/nats/publish-retry.ts';

let cluster: NatsCluster;
const conns: Nats[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  await cluster.ready();
}, 60_000);

afterAll(async () => {
  for (const c of conns) await c.nc.close().catch(() => {});
  await cluster?.stop();
});

const settle = <T>(what: string, step: () => Promise<T>) => waitFor(step, { timeoutMs: 45_000, intervalMs: 250, what });

/** A connection as the services make it (connectNats), retried while JetStream is slow to answer. */
async function connected(url: string, name: string): Promise<Nats> {
  const nats = await settle(`a connection (${name})`, () => connectNats(url, name));
  conns.push(nats);
  return nats;
}

const nodeIndex = (serverName: string) => Number(/^sy-node-(\d+)/.exec(serverName)![1]);

/** Who led a consumer, as a node index; waits through an election. */
async function leaderOf(admin: Nats, name: string): Promise<number> {
  const leader = await waitFor(async () => (await admin.jsm.consumers.info('FAILOVER', name)).cluster?.leader || undefined, {
    timeoutMs: 45_000,
    what: `a leader for ${name}`,
  });
  return nodeIndex(leader);
}

describe('consume() across the death of the consumer leader', () => {
  it('resumes before a consume with nats.js defaults does: both consumers led by the node killed', async () => {
    // The setup retries: on a loaded machine (the full suite runs files in parallel) a fresh cluster
    // can take longer than one 10 s JetStream API call to create an R3 stream. Each step is idempotent.
    const admin = await connected(cluster.url, 'test-admin');
    await settle('the stream', () => admin.jsm.streams.add({ name: 'FAILOVER', subjects: ['fo.>'], num_replicas: 3 }));
    for (const name of ['ours', 'defaults'])
      await settle(name, () => admin.jsm.consumers.add('FAILOVER', { durable_name: name, ack_policy: AckPolicy.Explicit }));
    // Both on one leader, the node that will die: move `defaults` until it is led where `ours` is.
    const leader = await leaderOf(admin, 'ours');
    for (let i = 0; i < 30 && (await leaderOf(admin, 'defaults')) !== leader; i++) {
      await admin.nc.request('$JS.API.CONSUMER.LEADER.STEPDOWN.FAILOVER.defaults', undefined, { timeout: 10_000 }).catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await leaderOf(admin, 'defaults')).toBe(leader);
    const survivors = cluster.nodes.filter((_, i) => i !== leader);

    // The consuming client sits on a node that survives: only its pulls, parked at the leader, are lost.
    const client = await connected(survivors[0]!.url, 'test-consumer');
    const got = { ours: new Map<string, number>(), defaults: new Map<string, number>() };
    const consumes = [];
    for (const name of ['ours', 'defaults'] as const) {
      const consumer = await settle(`the ${name} handle`, () => client.js.consumers.get('FAILOVER', name));
      const messages = await consumer.consume(name === 'ours' ? consumeOptions(16) : { max_messages: 16 });
      consumes.push(messages);
      void (async () => {
        for await (const m of messages as AsyncIterable<JsMsg>) {
          got[name].set(m.string(), Date.now());
          m.ack();
        }
      })();
    }
    await settle('the first publish', () => admin.js.publish('fo.x', 'before', { msgID: 'before' }));
    await waitFor(() => got.ours.has('before') && got.defaults.has('before'), { timeoutMs: 30_000, what: 'the first message, twice' });

    // Connected first: connecting asks JetStream for the account, which waits for the meta leader.
    const publisher = await connected(survivors[1]!.url, 'test-publisher');
    const killed = Date.now();
    cluster.nodes[leader]!.kill();
    // Through the elections of the stream (if it led that too) and the consumers.
    const publish = () => publisher.js.publish('fo.x', 'after', { msgID: 'after' });
    await publish().catch((first: unknown) => retryPublish(publish, first, 30_000));
    // nats.js's defaults notice a lost pull after two missed 15 s heartbeats: ~30 s after the last
    // message. Ours must have the message first (5 s expiry: 2-13 s here, elections included).
    await waitFor(() => got.ours.has('after') || got.defaults.has('after'), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'the message after the failover',
    });
    const ours = got.ours.get('after');
    const defaults = got.defaults.get('after');
    console.log(
      `consumer leader ${leader} killed: delivered after ${ours ? ours - killed : '-'} ms with consumeOptions, ${defaults ? defaults - killed : 'not yet'} with the defaults`,
    );
    expect(ours, 'delivered to the consume with consumeOptions first').toBeDefined();
    expect(defaults).toBeUndefined();
    for (const c of consumes) await c.close();
  }, 180_000);
});
