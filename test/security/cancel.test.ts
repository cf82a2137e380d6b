// Cancel means not executed and not billed (hostile-input hardening, part 7), against real NATS and
// Postgres: a cancel that overtakes its request keeps it from running, and an interactive request
// whose caller is gone (deadline passed while it waited for redelivery) is not run again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { SwitchyardWsClient } from '../../shared/client/ws-client.ts';
import { publishRequest } from '../../services/ingress/dispatcher.ts';
import { startWorker, type Worker } from '../../services/worker/worker.ts';

let stack: Stack;
let worker: Worker | null = null;

beforeAll(async () => {
  // No in-process worker at first: the redelivery test decides who holds the request when.
  stack = await startStack({ worker: false, env: { WORKER_ACK_WAIT_SECONDS: '1' } });
});
afterAll(async () => {
  await worker?.close();
  await stack?.close();
});

const startInProcessWorker = async () =>
  (worker ??= await startWorker({ config: stack.runtime.config, nats: stack.runtime.nats, log: stack.runtime.log }));

describe('cancel semantics', () => {
  it('does not run again an interactive request redelivered after its deadline', async () => {
    stack.mock.reset();
    const child = await stack.spawn('worker');
    const requestId = `req_expired${Date.now()}`;
    const deadline = Date.now() + 3_000;
    // An ingress that published and then crashed with its caller: nobody is left to cancel it.
    await publishRequest(stack.runtime.nats, 'ingGone', {
      requestId,
      principal: { tenantId: 'tenant_default', keyId: 'key_test' },
      kind: 'chat',
      route: { provider: 'openai', model: 'gpt-4o-mini' },
      publicModel: 'openai/gpt-4o-mini',
      stream: true,
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'slow\nmock:{"tokens":50,"ttft_ms":8000}' }],
      }),
      deadline,
    });
    await waitFor(() => stack.mock.stats.requests === 1, { what: 'the first worker calls the upstream' });
    await child.kill('SIGKILL');
    await waitFor(() => Date.now() > deadline + 100, { timeoutMs: 10_000, what: 'deadline passed' });

    await startInProcessWorker();
    const row = await waitForUsageRow(stack.db, requestId);
    expect(row.status).toBe('cancelled');
    expect(row.error_code).toBe('deadline_exceeded');
    expect(Number(row.output_tokens)).toBe(0);
    expect(Number(row.cost_usd)).toBe(0);
    // The redelivery was acked without an upstream call.
    expect(stack.mock.stats.requests).toBe(1);
  });

  it('100 create+cancel pairs on a WebSocket bill no output tokens and reach no upstream', async () => {
    await startInProcessWorker();
    stack.mock.reset();
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    const handles = Array.from({ length: 100 }, (_, i) => {
      const h = ws.chat(
        {
          model: 'openai/gpt-4o-mini',
          messages: [{ role: 'user', content: `pair ${i}\nmock:{"tokens":200,"ttft_ms":300,"itl_ms":10}` }],
        },
        { id: `p${i}` },
      );
      h.cancel();
      return h;
    });
    const outcomes = await Promise.allSettled(handles.map((h) => h.result));
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason.frame?.error?.code).toBe('cancelled');
    }
    const requestIds = await Promise.all(handles.map((h) => h.requestId));
    const rows = await waitFor(
      async () => {
        const r = await stack.db.selectFrom('usage').selectAll().where('request_id', 'in', requestIds).execute();
        return r.length === requestIds.length ? r : undefined;
      },
      { timeoutMs: 20_000, what: 'a usage row for every cancelled request' },
    );
    const billed = rows.reduce((sum, r) => sum + Number(r.output_tokens), 0);
    expect(billed).toBe(0);
    expect(rows.every((r) => r.status === 'cancelled')).toBe(true);
    // A cancel that overtakes its request keeps it from reaching the upstream at all; the few a
    // worker pulled first are aborted before their first token.
    expect(stack.mock.stats.completed).toBe(0);
    expect(stack.mock.stats.requests).toBeLessThan(20);
    ws.close();
  });
});
