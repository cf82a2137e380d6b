// What nats-server's per-subject index costs in memory: the same messages in a file-stored stream like
// LLM_EVENTS, once on a subject per stream (`llm.evt.<ingressId>.<requestId>`, what Switchyard
// stores) and once on BENCH_BUCKETS subjects, each on a fresh nats-server (the harness's, with
// npm start's environment). Prints nats-server's RSS after each. About what the peer harness's three
// streaming phases leave in LLM_EVENTS: ~114,000 streams, a few stored messages each.
//
//   node bench/subject-index.ts
//   BENCH_STREAMS=50000 BENCH_BUCKETS=256 node bench/subject-index.ts
import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from '../test/harness/nats-server.ts';

const STREAMS = Number(process.env.BENCH_STREAMS ?? 114_000);
const BUCKETS = Number(process.env.BENCH_BUCKETS ?? 4_096);
const MESSAGES_PER_STREAM = 4;
const INGRESS = '0123456789ab';

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function fill(subjectOf: (stream: number) => string): Promise<{ rssMb: number; seconds: number }> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: 'EVENTS', subjects: ['llm.evt.>'], storage: 'file' as never });
    const js = jetstream(nc);
    const body = 'x'.repeat(180);
    const started = performance.now();
    for (let i = 0; i < STREAMS; i += 64) {
      const acks = [];
      for (let s = i; s < Math.min(i + 64, STREAMS); s++)
        for (let k = 0; k < MESSAGES_PER_STREAM; k++) acks.push(js.publish(subjectOf(s), body));
      await Promise.all(acks);
    }
    const seconds = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 1_000));
    return { rssMb: rssMb(server.pid()!), seconds };
  } finally {
    await nc.close();
    await server.stop();
  }
}

const requestId = (i: number) => `req_${INGRESS}${i.toString(16).padStart(20, '0')}`;
const perStream = await fill((i) => `llm.evt.${INGRESS}.${requestId(i)}`);
const bucketed = await fill((i) => `llm.evt.${INGRESS}.b${(i % BUCKETS).toString(16)}`);
console.log(`${STREAMS} streams, ${MESSAGES_PER_STREAM} messages of 180 bytes each`);
console.log(`a subject per stream: nats-server RSS ${perStream.rssMb.toFixed(1)} MB (${perStream.seconds.toFixed(1)} s to publish)`);
console.log(`${BUCKETS} subjects:        nats-server RSS ${bucketed.rssMb.toFixed(1)} MB (${bucketed.seconds.toFixed(1)} s to publish)`);
