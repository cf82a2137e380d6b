// Graceful operations of a service process: SIGTERM drains (readiness off at once, new requests
// refused or left to other processes, in-flight work finished, exit 0) and SIGHUP reloads the config
// file (aliases, prices) without dropping a request; a bad file is refused and the old one kept.
// On Postgres the ingress runs as its own process; on PGlite the all-in-one `npm start` process does.
import { cpSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openEmbeddedDatabase, startStack, waitForUsageRow, type ChildService, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';

let stack: Stack;
let dir: string;
let configPath: string;

const aliasFile = (model: string) => `models:\n  house:\n    targets:\n      - model: openai/${model}\n`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sy-graceful-'));
  configPath = join(dir, 'switchyard.yaml');
  writeFileSync(configPath, aliasFile('gpt-4o-mini'));
  // The stack's own ingress is not used: the process under test is a child. Its worker serves the child.
  // On PGlite the all-in-one child records usage in its own database, so the stack runs no ledger.
  stack = await startStack({
    ingress: false,
    ledger: inject('backend') !== 'pglite',
    env: { SWITCHYARD_CONFIG: configPath, WORKER_MAX_RETRIES: '0' },
  });
});
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

type IngressProcess = ChildService & { url: string; dataDir?: string };

/** An ingress process of its own: `services/ingress/main.ts` on Postgres, the all-in-one process on PGlite. */
async function spawnIngress(extraEnv: Record<string, string> = {}): Promise<IngressProcess> {
  const port = String(await freePort());
  if (stack.backend === 'pglite') {
    // A database of its own per process (from the run's migrated template), so no process meets another's lock.
    const dataDir = mkdtempSync(join(dir, 'all-in-one-'));
    const template = inject('pgliteTemplate');
    if (template) cpSync(template, join(dataDir, 'pglite'), { recursive: true });
    return stack.spawnAllInOne({ dataDir, env: { PORT: port, ...extraEnv } });
  }
  const child = await stack.spawn('ingress', { PORT: port, ...extraEnv });
  return { ...child, url: `http://127.0.0.1:${port}` };
}

/** Usage rows of `ids`: from Postgres at once; on PGlite from the process's own database once it has exited. */
async function usageRows(ingress: IngressProcess, ids: string[]) {
  if (!ingress.dataDir) return Promise.all(ids.map((id) => waitForUsageRow(stack.db, id)));
  expect(ingress.proc.exitCode, 'read after a graceful exit').toBe(0);
  const db = await openEmbeddedDatabase(ingress.dataDir);
  try {
    return await Promise.all(ids.map((id) => waitForUsageRow(db, id, 2_000)));
  } finally {
    await db.destroy();
  }
}

/** The model name the simulated upstream saw last. */
const lastUpstreamModel = () => (stack.mock.requests.at(-1)!.body as { model: string }).model;

function chat(url: string, body: object, headers: Record<string, string> = {}) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

const exited = (child: ChildService) =>
  new Promise<number | null>((resolve) => {
    if (child.proc.exitCode !== null) resolve(child.proc.exitCode);
    else child.proc.once('exit', (code) => resolve(code));
  });

describe('SIGTERM drains an ingress', () => {
  it('readiness goes 503 at once, new requests get 503, the stream in flight completes, exit 0', async () => {
    const ingress = await spawnIngress({ DRAIN_TIMEOUT_MS: '20000' });
    expect((await fetch(`${ingress.url}/readyz`)).status).toBe(200);
    // About 2.5 s of streaming: 50 tokens, 50 ms apart.
    const res = await chat(ingress.url, {
      model: 'openai/gpt-4o-mini',
      stream: true,
      messages: [{ role: 'user', content: 'long\nmock:{"tokens":50,"itl_ms":50}' }],
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const exit = exited(ingress);
    ingress.proc.kill('SIGTERM');

    const ready = await waitFor(
      async () => {
        const r = await fetch(`${ingress.url}/readyz`);
        return r.status === 503 ? ((await r.json()) as { status: string }) : undefined;
      },
      { timeoutMs: 2_000, intervalMs: 20, what: 'readyz 503 while draining' },
    );
    expect(ready.status).toBe('draining');
    const refused = await chat(ingress.url, { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');

    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('tok49');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await exit).toBe(0);
    const [row] = await usageRows(ingress, [requestId]);
    expect(row).toMatchObject({ status: 'ok', output_tokens: 50 });
  });
});

describe('SIGTERM drains a worker', () => {
  it('its request in flight completes, new requests go to another worker, exit 0', async () => {
    // The stack's in-process worker serves too; the drained one must finish what it pulled.
    const healthPort = await freePort();
    const draining = await stack.spawn('worker', { DRAIN_TIMEOUT_MS: '20000', HEALTH_PORT: String(healthPort) });
    // 0: nothing listens any more (a worker that held none of the streams may be gone already).
    const readyz = () =>
      fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
    // The child logs "consuming" (what spawn waits for) a moment before its health port listens.
    expect(await waitFor(async () => ((await readyz()) === 200 ? 200 : undefined), { what: 'worker readyz 200' })).toBe(200);
    const ingress = await spawnIngress();
    // Several long streams, so the child worker surely holds some of them when SIGTERM comes.
    const streams = await Promise.all(
      Array.from({ length: 6 }, () =>
        chat(ingress.url, {
          model: 'openai/gpt-4o-mini',
          stream: true,
          messages: [{ role: 'user', content: 'long\nmock:{"tokens":30,"itl_ms":50}' }],
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    const exit = exited(draining);
    draining.proc.kill('SIGTERM');
    const drainingStatus = await waitFor(
      async () => {
        const status = await readyz();
        return status !== 200 ? status : undefined;
      },
      { timeoutMs: 2_000, intervalMs: 20, what: 'worker readyz no longer 200 after SIGTERM' },
    );
    expect([503, 0]).toContain(drainingStatus);
    const during = await chat(ingress.url, { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'during drain' }] });
    expect(during.status).toBe(200);
    const bodies = await Promise.all(streams.map((s) => s.text()));
    for (const body of bodies) {
      expect(body).toContain('tok29');
      expect(body).not.toContain('"error"');
    }
    expect(await exit).toBe(0);
    expect(draining.output()).toMatch(/shutting down/);
    await ingress.kill('SIGTERM');
    const rows = await usageRows(
      ingress,
      streams.map((s) => s.headers.get('x-request-id')!),
    );
    for (const row of rows) expect(row).toMatchObject({ status: 'ok', attempts: 1 });
  });
});

describe('SIGHUP reloads the config file', () => {
  it('a changed alias routes the next request to its new target; requests in flight during the reload all succeed; a bad file is refused', async () => {
    writeFileSync(configPath, aliasFile('gpt-4o-mini'));
    const ingress = await spawnIngress();
    const ask = async () => {
      const res = await chat(ingress.url, { model: 'house', messages: [{ role: 'user', content: 'hi' }] });
      expect(res.status).toBe(200);
      await res.text();
      return lastUpstreamModel();
    };
    expect(await ask()).toBe('gpt-4o-mini');

    // Streams in flight across the reload.
    const inFlight = Array.from({ length: 8 }, () =>
      chat(ingress.url, { model: 'house', stream: true, messages: [{ role: 'user', content: 'x\nmock:{"tokens":10,"itl_ms":30}' }] }),
    );
    writeFileSync(configPath, aliasFile('gpt-4o'));
    ingress.proc.kill('SIGHUP');
    const responses = await Promise.all(inFlight);
    for (const r of responses) {
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('data: [DONE]');
    }
    await waitFor(() => /config reloaded/.test(ingress.output()), { what: 'reload log line' });
    expect(await ask()).toBe('gpt-4o');
    expect(ingress.proc.exitCode).toBeNull();

    // A broken file: refused with a log line naming it, the process keeps the alias it had.
    writeFileSync(configPath, 'models:\n  house:\n    targets: [ {model: \n');
    ingress.proc.kill('SIGHUP');
    await waitFor(() => /config reload refused/.test(ingress.output()), { what: 'refusal log line' });
    expect(ingress.output()).toContain(configPath);
    expect(await ask()).toBe('gpt-4o');

    // A file that changes the set of providers needs a restart: refused as well.
    writeFileSync(
      configPath,
      `${aliasFile('gpt-4o-mini')}providers:\n  house-llm:\n    type: openai-compatible\n    base_url: http://127.0.0.1:1/v1\n    api_keys: [k]\n    models: [m]\n`,
    );
    ingress.proc.kill('SIGHUP');
    await waitFor(() => /providers changed/.test(ingress.output()), { what: 'providers refusal' });
    expect(await ask()).toBe('gpt-4o');
    expect(ingress.proc.exitCode).toBeNull();

    // Content guardrails follow the file too: a default blocklist added by a reload refuses the next request.
    const reloads = (ingress.output().match(/config reloaded/g) ?? []).length;
    writeFileSync(
      configPath,
      `${aliasFile('gpt-4o')}guardrails:\n  - name: no-falcon\n    kind: blocklist\n    mode: pre_call\n    on_fail: block\n    keywords: [project falcon]\ndefault_guardrails: [no-falcon]\n`,
    );
    ingress.proc.kill('SIGHUP');
    await waitFor(() => (ingress.output().match(/config reloaded/g) ?? []).length > reloads, { what: 'guardrails reload' });
    const blocked = await chat(ingress.url, { model: 'house', messages: [{ role: 'user', content: 'tell me about Project Falcon' }] });
    expect(blocked.status).toBe(400);
    expect(((await blocked.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'guardrail_blocked' });
    expect(await ask()).toBe('gpt-4o');
    await ingress.kill('SIGTERM');
    expect(ingress.proc.exitCode).toBe(0);
  });
});
