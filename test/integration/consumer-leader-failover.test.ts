// A long-lived consume() outlives the death of its consumer's leader. A pull request waits at the
// consumer's leader; when that nats-server dies, the pull dies with it, and nats.js only notices after
// two missed idle heartbeats (expires / 2 each), 30 s with its default expiry: that long, a worker
// connected to a surviving node got nothing (redelivered streams waited 15-41 s in cluster.test.ts).
// consumeOptions (shared/nats/topology.ts), which every durable consume uses, bounds it.
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

const nodeIndex = (serverName: string) => Number(/^sy-node-(\d+)/.exec(serverName)![1]);

describe('consume() across the death of the consumer leader', () => {
  it('a message published after the leader died arrives within seconds, not after the 30 s default expiry of nats.js', async () => {
    const admin = await connectNats(cluster.url, 'test-admin');
    conns.push(admin);
    await admin.jsm.streams.add({ name: 'FAILOVER', subjects: ['fo.>'], num_replicas: 3 });
    await admin.jsm.consumers.add('FAILOVER', { durable_name: 'c', ack_policy: AckPolicy.Explicit });
    const leaderName = await waitFor(async () => (await admin.jsm.consumers.info('FAILOVER', 'c')).cluster?.leader || undefined, {
      what: 'a consumer leader',
    });
    const leader = nodeIndex(leaderName);
    const survivors = cluster.nodes.filter((_, i) => i !== leader);

    // The consuming client sits on a node that survives: only its pull, parked at the leader, is lost.
    const client = await connectNats(survivors[0]!.url, 'test-consumer');
    conns.push(client);
    const got: Array<{ data: string; at: number }> = [];
    const messages = await (await client.js.consumers.get('FAILOVER', 'c')).consume(consumeOptions(16));
    void (async () => {
      for await (const m of messages as AsyncIterable<JsMsg>) {
        got.push({ data: m.string(), at: Date.now() });
        m.ack();
      }
    })();

    await admin.js.publish('fo.x', 'before');
    await waitFor(() => got.some((g) => g.data === 'before'), { timeoutMs: 10_000, what: 'the first message' });

    // Connected first: connecting asks JetStream for the account, which waits for the meta leader.
    const publisher = await connectNats(survivors[1]!.url, 'test-publisher');
    conns.push(publisher);
    const killed = Date.now();
    cluster.nodes[leader]!.kill();
    // Through the elections of the stream (if it led that too) and the consumer.
    const publish = () => publisher.js.publish('fo.x', 'after');
    await publish().catch((first: unknown) => retryPublish(publish, first, 20_000));
    const published = Date.now();
    await waitFor(() => got.some((g) => g.data === 'after'), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'the message after the failover',
    });
    const waitedMs = got.find((g) => g.data === 'after')!.at - published;
    console.log(`consumer leader ${leader} killed: published after ${published - killed} ms, delivered ${waitedMs} ms later`);
    // The default expiry took about 30 s here; 5 s took 2-13 s on this machine (elections included).
    expect(waitedMs).toBeLessThan(20_000);
    await messages.close();
  }, 60_000);
});
