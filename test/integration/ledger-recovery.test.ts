// Why batch-faults.test.ts once timed out "waiting for 300 usage rows": a ledger killed while holding
// usage records it had pulled but not yet acked leaves them with JetStream until the ledger consumer's
// ack wait passes, which was a fixed 30 s. It is LEDGER_ACK_WAIT_SECONDS now; this test plays the
// killed ledger (a fetch that never acks) and expects the restarted ledger to store the row soon after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { consumerNames, STREAMS, subjects } from '../../shared/nats/topology.ts';
import { startLedger } from '../../services/ledger/ledger.ts';
import { usageRecord } from '../harness/usage-record.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ingress: false, worker: false, ledger: false, env: { LEDGER_ACK_WAIT_SECONDS: '2' } });
});
afterAll(async () => stack?.close());

describe('ledger killed holding unacked usage', () => {
  it('the records reach Postgres after LEDGER_ACK_WAIT_SECONDS, not a fixed 30 s', async () => {
    const requestId = `req_ledger_kill${Date.now()}`;
    const rec = usageRecord({ request_id: requestId, tenant_id: 'tenant_kill' });
    const { js } = stack.runtime.nats;
    await js.publish(subjects.usage('tenant_kill'), JSON.stringify([rec]));
    // The ledger that dies: it takes the message and never acks it.
    const consumer = await js.consumers.get(STREAMS.usage, consumerNames.ledger);
    const held = await consumer.next({ expires: 5_000 });
    expect(held?.subject).toBe(subjects.usage('tenant_kill'));

    const started = Date.now();
    const ledger = await startLedger({ nats: stack.runtime.nats, db: stack.db, log: stack.runtime.log });
    try {
      const row = await waitForUsageRow(stack.db, requestId, 10_000);
      expect(row).toMatchObject({ request_id: requestId, output_tokens: 2 });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await ledger.close();
    }
  });
});
