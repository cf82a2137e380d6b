import { connect, type NatsConnection } from '@nats-io/transport-node';
import { coalesceNatsWrites } from './coalesce-writes.ts';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export async function connectNats(url: string, name: string): Promise<Nats> {
  if (process.env.NATS_COALESCE_WRITES !== '0') coalesceNatsWrites();
  const nc = await connect({
    servers: url.split(','),
    name,
    // nats.js otherwise captures a stack trace on every request: the biggest single throughput cost.
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
  });
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  const js = jetstream(nc, { timeout: 10_000 });
  return { nc, js, jsm };
}
