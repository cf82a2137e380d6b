// A nats-server SIGKILLed and restarted on its data dir under a running Switchyard (the single server
// of `npm start` and the compose file; no cluster peer holds a replica). nats-server does not recreate
// memory-stored streams at a restart. Before shared/nats/topology-keeper.ts the rate-limit bucket,
// LLM_CANCELS and LLM_EVENTS stayed gone until Switchyard restarted: every tenant's rate limit failed
// open, no batch finished, and no stream from before the restart could be resumed. Now every process
// puts the topology back after the reconnect, and LLM_EVENTS is file-stored by default.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startStack, type Stack } from '../harness/stack.ts';
import { startNatsServer, type NatsServer } from '../harness/nats-server.ts';
import { waitFor } from '../harness/ports.ts';
import { keepTopology } from '../../shared/nats/topology-keeper.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { asyncConsumerNames, asyncSubjects, ensureTopology, REQUEST_OWNERS_BUCKET, STREAMS, subjects } from '../../shared/nats/topology.ts';

const ADMIN = 'adm-nats-restart';
const auth = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

/** SIGKILL, then the same server on the same port and data dir. */
async function crashAndRestart(server: NatsServer): Promise<void> {
  const pid = server.pid()!;
  server.kill();
  await waitFor(
    async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    },
    { what: 'nats-server to exit' },
  );
  await server.start();
}

describe('a running Switchyard across a nats-server restart', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ batch: true, env: { ADMIN_API_KEY: ADMIN, STREAM_RESUME_GRACE_MS: '1500' } });
  }, 60_000);
  afterAll(async () => stack?.close());

  const chat = async (key: string, content: string, extra: Record<string, unknown> = {}) => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: auth(key),
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }], ...extra }),
    });
    return { status: res.status, requestId: res.headers.get('x-request-id'), text: await res.text() };
  };
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${stack.url}${path}`, { method: 'POST', headers: auth(ADMIN), body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    return (await res.json()) as Record<string, unknown>;
  };

  it('puts back every stream and bucket; limits hold, batches finish, streams from before resume', async () => {
    const tenant = await admin('/admin/v1/tenants', { name: 'rpm3-restart', limits: { rpm: 3 } });
    const limitedKey = (await admin(`/admin/v1/tenants/${tenant.id as string}/keys`, {})).key as string;
    const before = await chat(stack.apiKey, 'before\nmock:{"tokens":12}', { stream: true });
    expect(before.status).toBe(200);
    expect(before.text).toContain('data: [DONE]');
    const names = async () => (await stack.runtime.nats.jsm.streams.names().next()).sort();
    const streamsBefore = await names();
    expect(streamsBefore).toEqual(expect.arrayContaining([STREAMS.events, STREAMS.cancels, STREAMS.results, 'KV_LLM_RATE_LIMITS']));
    expect(streamsBefore).not.toContain(`KV_${REQUEST_OWNERS_BUCKET}`); // owners live in LLM_EVENTS (resumable.ts)

    await crashAndRestart(stack.natsServer!);
    // Every process puts the topology back after its reconnect.
    await waitFor(async () => JSON.stringify(await names()) === JSON.stringify(streamsBefore), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'every stream and bucket after the restart',
    });
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
    // Operators see it: a restore counted, nothing missing.
    const exposition = await (await fetch(`${stack.url}/metrics`)).text();
    expect(Number(/^switchyard_nats_topology_restores_total (\d+)/m.exec(exposition)?.[1])).toBeGreaterThanOrEqual(1);
    expect(exposition).toMatch(/^switchyard_nats_topology_missing 0$/m);

    // The stream finished before the restart is still resumable: its events and owner were on disk.
    const resumed = await fetch(`${stack.url}/v1/requests/${before.requestId}/events`, { headers: auth(stack.apiKey) });
    expect(resumed.status).toBe(200);
    const replay = await resumed.text();
    expect(replay).toContain('tok11');
    expect(replay).toContain('data: [DONE]');

    // The tenant's limit holds again (the restart starts its window afresh: rate state is in memory).
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await chat(limitedKey, `after ${i}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);

    // A batch made after the restart runs to the end: its results come back through LLM_EVENTS.
    const form = new FormData();
    form.set('purpose', 'batch');
    const line = {
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'b' }] },
    };
    form.set('file', new Blob([JSON.stringify(line) + '\n']), 'input.jsonl');
    const file = (await (
      await fetch(`${stack.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: form })
    ).json()) as {
      id: string;
    };
    const created = await fetch(`${stack.url}/v1/batches`, {
      method: 'POST',
      headers: auth(stack.apiKey),
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
    });
    const batch = (await created.json()) as { id: string };
    const done = await waitFor(
      async () => {
        const b = (await (await fetch(`${stack.url}/v1/batches/${batch.id}`, { headers: auth(stack.apiKey) })).json()) as {
          status: string;
          request_counts: { completed: number };
        };
        return b.status === 'in_progress' || b.status === 'validating' || b.status === 'finalizing' ? undefined : b;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the batch to finish' },
    );
    expect(done).toMatchObject({ status: 'completed', request_counts: { completed: 1 } });
  }, 90_000);
});

describe('LLM_EVENTS across a nats-server restart', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('keeps a batch result nobody has read yet, and the resume buffer with file storage (the default)', async () => {
    const jsm = await jetstreamManager(nc);
    await ensureTopology(jsm, { providers: ['openai'] });
    // What boot() installs: not intact from the reconnect until its setup has run again.
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const keeper = keepTopology(
      nc,
      async () => {
        runs++;
        await gate;
        await ensureTopology(jsm, { providers: ['openai'], eventsStorage: 'memory' });
      },
      createLogger('test', 'silent'),
    );
    expect(keeper.intact).toBe(true);
    expect((await jsm.streams.info(STREAMS.events)).config.storage).toBe('file');
    const done = (n: number) => JSON.stringify({ type: 'done', seq: n, attempt: 1 });
    await jetstream(nc).publish(asyncSubjects.result('batch', 'batch_x-0'), done(1));
    await jetstream(nc).publish(subjects.events('client1', 'req_a'), done(1));
    expect((await jsm.consumers.info(STREAMS.results, asyncConsumerNames.batchResults)).num_pending).toBe(1);

    await crashAndRestart(server);
    await waitFor(() => runs === 1, { what: 'the setup to run again after the reconnect' });
    expect(keeper.intact).toBe(false);
    release();
    await waitFor(() => keeper.intact, { what: 'the topology to be intact again' });
    expect(keeper.restores).toBe(1);
    // Both file-stored streams came back by themselves, with the unread result and the stream's event.
    expect((await jsm.streams.info(STREAMS.events)).state.messages).toBe(1);
    expect((await jsm.consumers.info(STREAMS.results, asyncConsumerNames.batchResults)).num_pending).toBe(1);
    // A memory-stored LLM_EVENTS is gone after a restart, and the keeper makes it again (empty);
    // LLM_RESULTS is on disk whatever EVENTS_STORAGE says.
    await jsm.streams.delete(STREAMS.events);
    await ensureTopology(jsm, { providers: ['openai'], eventsStorage: 'memory' });
    await jetstream(nc).publish(subjects.events('client1', 'req_b'), done(1));
    await jetstream(nc).publish(asyncSubjects.result('batch', 'batch_x-1'), done(1));
    await crashAndRestart(server);
    await waitFor(() => keeper.restores === 2, { what: 'the second restore' });
    const again = await jsm.streams.info(STREAMS.events);
    expect(again.config.storage).toBe('memory');
    expect(again.state.messages).toBe(0);
    expect((await jsm.consumers.info(STREAMS.results, asyncConsumerNames.batchResults)).num_pending).toBe(2);
  });
});
