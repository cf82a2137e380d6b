// The NATS error recognisers against errors a real nats-server makes nats.js throw: they must key on
// the typed errors and JetStream err_codes, so a message that merely reads alike is not recognised.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamApiError, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import {
  isAlreadyExists,
  isConnectionClosed,
  isConsumerNotFound,
  isNoResponders,
  isStreamNotFound,
  isTimeout,
  isWrongLastSequence,
} from '../../shared/nats/errors.ts';
import { JetStreamPublisher } from '../../shared/nats/publisher.ts';
import { ensureTopology, streamConfigs } from '../../shared/nats/topology.ts';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'ERRS', subjects: ['errs.>'] });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

const recognisers = {
  isAlreadyExists,
  isConnectionClosed,
  isConsumerNotFound,
  isNoResponders,
  isStreamNotFound,
  isTimeout,
  isWrongLastSequence,
};

/** Names the recognisers that accept the error, so each case also proves the others do not. */
function recognisedAs(err: unknown): string[] {
  return Object.entries(recognisers)
    .filter(([, f]) => f(err))
    .map(([name]) => name);
}

describe('NATS error recognisers (real nats-server)', () => {
  it('stream not found', async () => {
    expect(recognisedAs(await rejection(jsm.streams.info('NO_SUCH_STREAM')))).toEqual(['isStreamNotFound']);
  });

  it('consumer not found', async () => {
    expect(recognisedAs(await rejection(jsm.consumers.info('ERRS', 'no-such-consumer')))).toEqual(['isConsumerNotFound']);
  });

  it('stream name in use with other settings', async () => {
    const err = await rejection(jsm.streams.add({ name: 'ERRS', subjects: ['other.>'] }));
    expect(recognisedAs(err)).toEqual(['isAlreadyExists']);
  });

  it('durable consumer name in use by an active push subscriber', async () => {
    await jsm.consumers.add('ERRS', { durable_name: 'pushed', deliver_subject: 'deliver.a' });
    const bound = nc.subscribe('deliver.a');
    await nc.flush();
    const err = await rejection(jsm.consumers.add('ERRS', { durable_name: 'pushed', deliver_subject: 'deliver.b' }));
    expect(recognisedAs(err)).toEqual(['isAlreadyExists']);
    bound.unsubscribe();
  });

  it('the other "already exists" codes nats-server answers (10058, 10148, 10105) and only those', () => {
    const apiError = (err_code: number) => new JetStreamApiError({ code: 400, err_code, description: 'x' });
    for (const code of [10013, 10058, 10105, 10148]) expect(recognisedAs(apiError(code)), String(code)).toEqual(['isAlreadyExists']);
    expect(recognisedAs(apiError(10012))).toEqual([]);
  });

  it('KV create of an existing key and update at a stale revision', async () => {
    const kv = await new Kvm(jetstream(nc)).create('errs_kv');
    const rev = await kv.create('k', 'one');
    expect(recognisedAs(await rejection(kv.create('k', 'two')))).toEqual(['isWrongLastSequence']);
    await kv.update('k', 'three', rev);
    expect(recognisedAs(await rejection(kv.update('k', 'four', rev)))).toEqual(['isWrongLastSequence']);
  });

  it('request with no responders, and one nobody answers in time', async () => {
    expect(recognisedAs(await rejection(nc.request('nobody.listens', 'x', { timeout: 1_000 })))).toEqual(['isNoResponders']);
    const silent = nc.subscribe('silent.listener');
    await nc.flush();
    expect(recognisedAs(await rejection(nc.request('silent.listener', 'x', { timeout: 100 })))).toEqual(['isTimeout']);
    silent.unsubscribe();
  });

  it('subscribe on a draining connection, publish on a closed one', async () => {
    const other = await connect({ servers: server.url });
    const drained = other.drain();
    expect(recognisedAs(thrown(() => other.subscribe('late.subscriber')))).toEqual(['isConnectionClosed']);
    await drained;
    expect(recognisedAs(thrown(() => other.publish('late.publish', 'x')))).toEqual(['isConnectionClosed']);
  });

  it("the hand-written JetStream publisher's failures: no stream, refused, no ack in time", async () => {
    const publisher = new JetStreamPublisher(nc, 300);
    try {
      const noStream = await rejection(publisher.publish('nostream.x', 'x', headers(), 'm1'));
      expect(recognisedAs(noStream)).toEqual(['isNoResponders']);
      await jsm.streams.add({ name: 'ERRS_SMALL', subjects: ['small.>'], max_msg_size: 8 });
      const refused = await rejection(publisher.publish('small.x', 'more than eight bytes', headers(), 'm2'));
      expect(refused).toBeInstanceOf(JetStreamApiError);
      expect((refused as JetStreamApiError).code).toBe(10054); // JSStreamMessageExceedsMaximumErr
      expect(recognisedAs(refused)).toEqual([]);
      const silent = nc.subscribe('silent.stream');
      await nc.flush();
      expect(recognisedAs(await rejection(publisher.publish('silent.stream', 'x', headers(), 'm3')))).toEqual(['isTimeout']);
      silent.unsubscribe();
    } finally {
      publisher.close();
    }
    // Closed, nothing could match an ack or time it out: a publish is refused at once, never left waiting.
    await expect(publisher.publish('errs.x', 'x', headers(), 'm4')).rejects.toThrow('publisher closed');
  });

  it('ensureTopology creates everything on a fresh server, from several processes at once, then only updates', async () => {
    const fresh = await startNatsServer();
    const a = await connect({ servers: fresh.url });
    const b = await connect({ servers: fresh.url });
    const others = await Promise.all([1, 2].map(() => connect({ servers: fresh.url })));
    try {
      const opts = { providers: ['openai', 'anthropic'] };
      // Four at once: a creation in flight answers a second add with "subjects overlap" (seen in CI).
      await Promise.all([a, b, ...others].map(async (c) => ensureTopology(await jetstreamManager(c), opts)));
      await ensureTopology(await jetstreamManager(a), { ...opts, ackWaitSeconds: 45 });
      const freshJsm = await jetstreamManager(a);
      for (const cfg of streamConfigs(opts)) expect((await freshJsm.streams.info(cfg.name)).config.name).toBe(cfg.name);
    } finally {
      await a.close();
      await b.close();
      for (const c of others) await c.close();
      await fresh.stop();
    }
  });

  it('does not recognise errors that only read alike', () => {
    for (const message of [
      'stream not found',
      'consumer not found',
      'consumer already exists',
      'stream name already in use',
      'wrong last sequence: 3',
      '503 no responders',
      'timeout',
      'closed connection',
    ]) {
      expect(recognisedAs(new Error(message)), message).toEqual([]);
    }
    expect(recognisedAs(Object.assign(new Error('wrong last sequence'), { code: 10071 }))).toEqual([]);
  });
});
