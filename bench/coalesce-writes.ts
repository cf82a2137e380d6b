// Does shared/nats/coalesce-writes.ts still pay? Publishes small messages with the patch on or off
// (NATS_COALESCE_WRITES=1|0) against a throwaway nats-server and prints wall time and CPU of this
// process and of the server. Two shapes: core publishes issued one per event-loop turn (as the
// ingress does, one per HTTP request), and JetStream publishes with 64 in flight (the hot path).
//   NATS_COALESCE_WRITES=1 node bench/coalesce-writes.ts; NATS_COALESCE_WRITES=0 node bench/coalesce-writes.ts
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { connectNats } from '../shared/nats/connection.ts';
import { JetStreamPublisher } from '../shared/nats/publisher.ts';
import { startNatsServer } from '../test/harness/nats-server.ts';

const CORE_MESSAGES = Number(process.env.CORE_MESSAGES ?? 200_000);
const JS_MESSAGES = Number(process.env.JS_MESSAGES ?? 50_000);
const IN_FLIGHT = 64;

function serverCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime in clock ticks (100 Hz)
}

async function measure(name: string, serverPid: number, run: () => Promise<void>) {
  const cpu0 = process.cpuUsage();
  const srv0 = serverCpuMs(serverPid);
  const t0 = performance.now();
  await run();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const srv = serverCpuMs(serverPid) - srv0;
  console.log(
    JSON.stringify({
      shape: name,
      coalesce: process.env.NATS_COALESCE_WRITES !== '0',
      wallMs: Math.round(wall),
      clientCpuMs: Math.round((cpu.user + cpu.system) / 1000),
      serverCpuMs: Math.round(srv),
    }),
  );
}

const server = await startNatsServer();
try {
  const { nc } = await connectNats(server.url, 'coalesce-bench');
  const payload = new Uint8Array(100);
  const sink = nc.subscribe('bench.core.>', { callback: () => {} });
  await nc.flush();
  await measure('core, one publish per turn', server.pid()!, async () => {
    let sent = 0;
    await new Promise<void>((done) => {
      const next = () => {
        nc.publish('bench.core.x', payload);
        if (++sent === CORE_MESSAGES) return done();
        setImmediate(next);
      };
      next();
    });
    await nc.flush();
  });
  sink.unsubscribe();

  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'BENCH', subjects: ['bench.js.>'], max_msgs: 10_000 });
  const publisher = new JetStreamPublisher(nc, 30_000);
  await measure(`jetstream, ${IN_FLIGHT} in flight`, server.pid()!, async () => {
    let issued = 0;
    const lane = async () => {
      while (issued < JS_MESSAGES) {
        const id = ++issued;
        await publisher.publish('bench.js.x', payload, headers(), `m${id}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  });
  publisher.close();
  await nc.close();
} finally {
  await server.stop();
}
