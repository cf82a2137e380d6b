import { ProcessGroup, rssMb } from './processes.ts';
import { runLoad } from './load.ts';
import { freePort, waitFor } from '../test/harness/ports.ts';
const g = new ProcessGroup();
const { nats, databaseUrl, mockUrl } = await g.startBackends('memprobe');
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] });
for (const script of (process.env.SCRIPTS ?? 'services/all/main.ts,/tmp/sydist/services/all/main.js').split(',')) {
  const port = await freePort();
  const p = g.run(script, { NATS_URL: nats.url, DATABASE_URL: databaseUrl, OPENAI_BASE_URL: `${mockUrl}/v1`, OPENAI_API_KEY: 'x', BOOTSTRAP_API_KEY: 'sk-bench', LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1' }, ['--max-semi-space-size=16']);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, { timeoutMs: 60000, what: 'ready' });
  await new Promise((r) => setTimeout(r, 2000));
  const idle = rssMb(p.pid);
  let peak = 0; const t = setInterval(() => { peak = Math.max(peak, rssMb(p.pid)); }, 100);
  const r = await runLoad({ url: `http://127.0.0.1:${port}/v1/chat/completions`, body, headers: { authorization: 'Bearer sk-bench' }, connections: 64, durationSeconds: 8 });
  clearInterval(t);
  console.log(script, 'idle', idle.toFixed(0), 'rps', r.rps.toFixed(0), 'peak rss', peak.toFixed(0), 'errors', r.errors + r.non2xx);
  p.kill('SIGKILL');
}
await g.stopAll();
