// writeSse() keeps the open SSE streams for the switchyard_sse_buffered_bytes gauge
// (services/ingress/sse-backpressure.ts). Two things are checked: the gauge sums exactly the streams
// still open whatever order they close in, and a finished stream is not kept alive for the
// young-generation GC. Kept in a Set, every finished response was promoted to the old generation at
// max load (docs/benchmarks.md, levers row "sseopen"); the second case measures that directly.
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeSse } from '../../services/ingress/sse-backpressure.ts';
import { registry } from '../../shared/telemetry/metrics.ts';
import { scavenges } from '../harness/gc-trace.ts';

const limits = { maxBufferedBytes: 1 << 30, stuckTimeoutMs: 60_000 };

/** Just enough of a ServerResponse for writeSse: Node's own buffer is `writableLength`. */
class FakeResponse extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  chunkedEncoding = true;
  writableNeedDrain = false;
  socket = null;
  writableLength = 0;
  constructor(buffered: number) {
    super();
    this.writableLength = buffered;
  }
  write(): boolean {
    return true;
  }
  close(): void {
    this.writableEnded = true;
    this.emit('close');
  }
}
const asRes = (r: FakeResponse) => r as unknown as ServerResponse;

async function gauge(): Promise<number> {
  const metric = registry.getSingleMetric('switchyard_sse_buffered_bytes')!;
  return (await metric.get()).values[0]!.value;
}

describe('open SSE streams', () => {
  it('the buffered-bytes gauge sums the streams still open, whichever closes first', async () => {
    const base = await gauge();
    const streams = [1, 10, 100, 1_000, 10_000].map((n) => new FakeResponse(n));
    for (const s of streams) expect(writeSse(asRes(s), 'data: x\n\n', limits)).toBe(true);
    expect((await gauge()) - base).toBe(11_111);
    streams[1]!.close(); // from the middle: the last one takes its place
    expect((await gauge()) - base).toBe(11_101);
    streams[4]!.close(); // the last
    expect((await gauge()) - base).toBe(1_101);
    streams[0]!.close();
    expect((await gauge()) - base).toBe(1_100);
    const late = new FakeResponse(5);
    writeSse(asRes(late), 'data: y\n\n', limits);
    expect((await gauge()) - base).toBe(1_105);
    for (const s of [streams[2]!, late, streams[3]!]) s.close();
    expect((await gauge()) - base).toBe(0);
  });

  it('keeps no finished stream alive for the young-generation GC: 20,000 streams promote a few MB, not one copy each', () => {
    // A node:http server answering SSE through writeSse and 64 keep-alive clients, in a child run
    // with --trace-gc-nvp: the bytes each scavenge promoted to the old generation, summed over the
    // load. With the open streams in a Set, every finished response was promoted: 24.5 MB here.
    const child = `
      const { createServer, Agent, request } = await import('node:http');
      const { writeSse } = await import(${JSON.stringify(pathToFileURL(resolve('services/ingress/sse-backpressure.ts')).href)});
      const limits = { maxBufferedBytes: 1 << 30, stuckTimeoutMs: 60000 };
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': 'req_' + Math.random() });
        let n = 0;
        const tick = () => {
          writeSse(res, 'data: {"n":' + n + '}\\n\\n', limits);
          if (++n < 5) setImmediate(tick);
          else res.end('data: [DONE]\\n\\n');
        };
        tick();
      });
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const agent = new Agent({ keepAlive: true, maxSockets: 64 });
      let started = 0;
      console.log('LOAD START');
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (started++ < 20000)
          await new Promise((resolve, reject) => {
            const r = request({ port: server.address().port, host: '127.0.0.1', method: 'POST', agent }, (res) => {
              res.resume();
              res.on('end', resolve);
            });
            r.on('error', reject);
            r.end('{}');
          });
      }));
      console.log('LOAD END');
      agent.destroy();
      server.close();
    `;
    const run = spawnSync(process.execPath, ['--max-semi-space-size=16', '--trace-gc-nvp', '--input-type=module', '-e', child], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const load = run.stdout.slice(run.stdout.indexOf('LOAD START'), run.stdout.indexOf('LOAD END'));
    const young = scavenges(load);
    expect(young.length).toBeGreaterThan(10); // the load went through the young generation
    const promoted = young.reduce((sum, s) => sum + s.promoted, 0);
    expect(promoted, `promoted ${(promoted / 1e6).toFixed(1)} MB`).toBeLessThan(10e6);
  }, 60_000);
});
