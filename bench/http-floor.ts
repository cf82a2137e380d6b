// The floor of the ingress's HTTP layer: what Fastify costs per request against bare node:http on
// this machine, with nothing else in the process. Each server reads the same chat request as JSON
// and answers the same pre-serialized chat completion (a bearer check included); the broker's own
// work (validation, queue, worker, upstream, ledger) is absent, so the difference between the two is
// the part of Switchyard's CPU per request a switch of its HTTP layer could save at most.
//
//   node bench/http-floor.ts                    # 3 interleaved rounds of 6 s, 64 connections
//   BENCH_ROUNDS=5 BENCH_DURATION=8 node bench/http-floor.ts
//
// Both run with npm start's V8 flags, one process each, in turn (never at the same time).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { median, runLoad, served } from './load.ts';
import { BROKER_NODE_FLAGS, benchBodies, cpuSeconds } from './processes.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const KEY = 'sk-bench';
const ANSWER = JSON.stringify({
  id: 'chatcmpl-floor',
  object: 'chat.completion',
  created: 1,
  model: 'openai/gpt-4o-mini',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 9, completion_tokens: 9, total_tokens: 18 },
});

type Kind = 'node-http' | 'fastify';

async function serve(kind: Kind, port: number): Promise<void> {
  if (kind === 'node-http') {
    const server = createServer((req, res) => {
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        res.writeHead(401).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { model?: string };
        if (typeof body.model !== 'string') {
          res.writeHead(400).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(ANSWER) });
        res.end(ANSWER);
      });
    });
    server.keepAliveTimeout = 60_000;
    server.listen(port, '127.0.0.1');
    return;
  }
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
  app.post('/v1/chat/completions', async (req, reply) => {
    if (req.headers.authorization !== `Bearer ${KEY}`) return reply.code(401).send();
    const body = req.body as { model?: string };
    if (typeof body.model !== 'string') return reply.code(400).send();
    return reply.type('application/json; charset=utf-8').send(ANSWER);
  });
  await app.listen({ port, host: '127.0.0.1' });
}

if (process.argv[2] === 'serve') {
  process.on('SIGTERM', () => process.exit(0)); // a normal exit, so `--cpu-prof` writes its profile
  await serve(process.argv[3] as Kind, Number(process.argv[4]));
} else {
  const results: Record<Kind, Array<{ rps: number; cpuUs: number }>> = { 'node-http': [], fastify: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Kind[] = round % 2 ? ['fastify', 'node-http'] : ['node-http', 'fastify'];
    for (const kind of order) {
      const port = await freePort();
      const child: ChildProcess = spawn(
        process.execPath,
        [...BROKER_NODE_FLAGS, fileURLToPath(import.meta.url), 'serve', kind, String(port)],
        {
          stdio: 'inherit',
        },
      );
      const url = `http://127.0.0.1:${port}/v1/chat/completions`;
      const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
      await waitFor(async () => (await fetch(url, { method: 'POST', headers, body: benchBodies.chat })).ok, {
        timeoutMs: 20_000,
        what: kind,
      });
      const cpu0 = cpuSeconds(child.pid);
      const r = await runLoad({ url, body: benchBodies.chat, headers, connections: CONNECTIONS, durationSeconds: DURATION });
      const cpuUs = Math.round(((cpuSeconds(child.pid) - cpu0) * 1e6) / served(r));
      results[kind].push({ rps: Math.round(r.rps), cpuUs });
      console.log(JSON.stringify({ round: round + 1, kind, rps: Math.round(r.rps), p50: r.p50, cpuUs, errors: r.errors + r.non2xx }));
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
  const m = (k: Kind, f: 'rps' | 'cpuUs') => median(results[k].map((x) => x[f]));
  console.log(`\nmedians over ${ROUNDS} rounds, ${CONNECTIONS} connections, ${DURATION} s each:`);
  for (const k of ['node-http', 'fastify'] as const)
    console.log(`  ${k.padEnd(9)} ${m(k, 'rps')} req/s, ${m(k, 'cpuUs')} µs CPU per request`);
  console.log(`  fastify - node:http: ${m('fastify', 'cpuUs') - m('node-http', 'cpuUs')} µs per request`);
}
