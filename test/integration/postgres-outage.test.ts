// Postgres unavailable, then back: requests keep being answered, usage waits in JetStream, and
// every row lands exactly once when the database returns. Also with the worker inserting its usage
// through the ledger of its own process (npm start's layout, LOCAL_USAGE): its inserts fail, and
// their batches go through LLM_USAGE instead.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { startPostgres, type PostgresCluster } from '../harness/postgres.ts';
import { waitFor } from '../harness/ports.ts';
import { STREAMS } from '../../shared/nats/topology.ts';

for (const localUsage of [false, true])
  describe(`Postgres outage${localUsage ? ', usage inserted by the worker' : ''}`, () => {
    let pgc: PostgresCluster;
    let stack: Stack;

    beforeAll(async () => {
      pgc = await startPostgres(); // our own cluster: this file stops it
      stack = await startStack({ postgresUrl: pgc.url, localUsage });
    });
    afterAll(async () => {
      await stack?.close();
      await pgc?.destroy();
    });

    it('loses no usage while the database is down', async () => {
      const client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
      // Warm the key cache, as a running ingress would be.
      await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'warm' }] });
      await waitFor(async () => (await stack.db.selectFrom('usage').select('request_id').execute()).length === 1, { what: 'first row' });

      const usageSeq = async () => (await stack.runtime.nats.jsm.streams.info(STREAMS.usage)).state.last_seq;
      // Inserted by the worker: nothing went through LLM_USAGE.
      if (localUsage) expect(await usageSeq()).toBe(0);
      await pgc.stop();
      const ready = await fetch(`${stack.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ database: false, nats: true });

      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { response } = await client.chat.completions
          .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `during outage ${i}` }] })
          .withResponse();
        ids.push(response.headers.get('x-request-id')!);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      // The worker's failed inserts sent their batches through LLM_USAGE.
      if (localUsage) expect(await usageSeq()).toBeGreaterThan(0);
      await pgc.start();

      const rows = await waitFor(
        async () => {
          const r = await stack.db.selectFrom('usage').select(['request_id', 'status']).execute();
          return r.length >= 21 ? r : undefined;
        },
        { timeoutMs: 30_000, what: 'backlog to land' },
      );
      await new Promise((r) => setTimeout(r, 500));
      const after = await stack.db.selectFrom('usage').select('request_id').execute();
      expect(after).toHaveLength(21);
      for (const id of ids) expect(rows.some((r) => r.request_id === id)).toBe(true);
      const daily = await stack.db.selectFrom('usage_daily').select('requests').execute();
      expect(daily.reduce((s, d) => s + Number(d.requests), 0)).toBe(21);
    });
  });
