// What reading one stream's first message in LLM_EVENTS costs nats-server, by the subject asked for:
// the stream's literal subject (`llm.evt.<ingressId>.<requestId>`, what an owner lookup reads since
// request ids name their ingress: services/ingress/request-ids.ts) against a wildcard over every
// ingress (`llm.evt.*.<requestId>`), which nats-server answers by scanning the stream's subjects.
// A file-stored stream like LLM_EVENTS, filled with one message per stream.
//
//   node bench/subject-lookup.ts                    # 200,000 streams
//   BENCH_SUBJECTS=50000 node bench/subject-lookup.ts
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, type MsgRequest } from '@nats-io/jetstream';
import { startNatsServer } from '../test/harness/nats-server.ts';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 200_000);
const LOOKUPS = 20;

async function main() {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'EVENTS', subjects: ['llm.evt.>'], storage: 'file' as never });
  const ingresses = ['ing0123456789ab', 'ingba9876543210', 'ing00112233aabb'];
  for (let i = 0; i < SUBJECTS; i++) {
    nc.publish(`llm.evt.${ingresses[i % 3]}.req${i}`, '[{"type":"owner","owner":{"tenantId":"t"}}]');
    if (i % 5_000 === 0) await nc.flush();
  }
  await nc.flush();
  while ((await jsm.streams.info('EVENTS')).state.messages < SUBJECTS) await new Promise((r) => setTimeout(r, 200));

  const time = async (subject: (i: number) => string) => {
    const ms: number[] = [];
    for (let k = 0; k < LOOKUPS; k++) {
      const i = Math.floor((k / LOOKUPS) * SUBJECTS);
      const started = performance.now();
      const m = await jsm.streams.getMessage('EVENTS', { next_by_subj: subject(i), seq: 0 } as unknown as MsgRequest);
      ms.push(performance.now() - started);
      if (!m) throw new Error(`not found: ${subject(i)}`);
    }
    ms.sort((a, b) => a - b);
    return `median ${ms[LOOKUPS / 2]!.toFixed(2)} ms, max ${ms.at(-1)!.toFixed(2)} ms`;
  };
  console.log(`${SUBJECTS} streams, ${LOOKUPS} lookups each, spread over the stream`);
  console.log(`literal subject:  ${await time((i) => `llm.evt.${ingresses[i % 3]}.req${i}`)}`);
  console.log(`wildcard subject: ${await time((i) => `llm.evt.*.req${i}`)}`);
  await nc.close();
  await server.stop();
}

await main();
