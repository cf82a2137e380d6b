// Secrets never leave: an upstream that quotes the operator's provider key in its error body must not
// get that key to the client (JSON, SSE, WebSocket) or into a log; the WebSocket handshake must not
// echo a key subprotocol; a stored key prefix is never the whole key. Real nats-server and Postgres,
// the mock upstream scripted to quote the keys.
import { rawUpgrade } from '../harness/ws-upgrade.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort } from '../harness/ports.ts';
import { SwitchyardWsClient, WsRequestError } from '../../shared/client/ws-client.ts';
import { ensureBootstrapKey, hashApiKey } from '../../shared/db/api-keys.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { scrubSecrets } from '../../shared/telemetry/secrets.ts';

// Deliberately not key-shaped: only "every configured key is scrubbed" catches these.
const YAML_KEY = `opaque-yaml-key-${randomBytes(6).toString('hex')}`;
const YAML_SECOND_KEY = `second-pool-key-${randomBytes(6).toString('hex')}`;
const ENV_KEY = `groq-env-key-${randomBytes(6).toString('hex')}`;
// Key-shaped tokens nobody configured: the shape patterns catch these.
const SHAPED = ['sk-proj-Ab12Cd34Ef56Gh78', 'AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOp', 'xai-Q1w2E3r4T5y6U7i8', 'gsk_Z9x8C7v6B5n4M3'];
const ADMIN_KEY = `admin-${randomBytes(8).toString('hex')}`;
const SECRETS = [YAML_KEY, YAML_SECOND_KEY, ENV_KEY, ...SHAPED, 'abcdef0123456789bearer'];

const echoMessage = `Incorrect API key provided: ${YAML_KEY} (pool ${YAML_SECOND_KEY}, groq ${ENV_KEY}); seen ${SHAPED.join(' ')}; Authorization: Bearer abcdef0123456789bearer`;

let stack: Stack;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-secrets-'));
  const configPath = join(dir, 'switchyard.yaml');
  writeFileSync(configPath, `providers:\n  openai:\n    api_keys:\n      - ${YAML_KEY}\n      - ${YAML_SECOND_KEY}\n`);
  stack = await startStack({
    env: { SWITCHYARD_CONFIG: configPath, ADMIN_API_KEY: ADMIN_KEY, WORKER_MAX_RETRIES: '0' },
    providerEnv: (mockUrl) => ({ GROQ_BASE_URL: `${mockUrl}/groq/openai/v1`, GROQ_API_KEY: ENV_KEY }),
  });
});
afterAll(async () => stack?.close());

const failing = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ status: 401, message: echoMessage, type: 'invalid_request_error', code: 'invalid_api_key', ...extra });

function chatBody(directive: string, stream = false) {
  return JSON.stringify({ model: 'openai/gpt-4o-mini', stream, messages: [{ role: 'user', content: `hi\nmock:{"error":${directive}}` }] });
}

async function post(baseUrl: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, text: await res.text() };
}

function expectNoSecret(text: string): void {
  for (const s of SECRETS) expect(text).not.toContain(s);
}

describe('upstream keys quoted in upstream errors', () => {
  it('JSON error: the client sees the upstream message with every key redacted', async () => {
    const { status, text } = await post(stack.url, chatBody(failing()));
    expect(status).toBe(502); // an upstream 401 is our configuration problem, not the client's
    expectNoSecret(text);
    const body = JSON.parse(text) as { error: { message: string } };
    expect(body.error.message).toContain('Incorrect API key provided: [redacted]');
    expect(body.error.message).toContain('Bearer [redacted]');
  });

  it('SSE `event: error` mid-stream carries no key', async () => {
    const { status, text } = await post(stack.url, chatBody(failing({ status: 500, after_tokens: 2 }), true));
    expect(status).toBe(200);
    expect(text).toContain('event: error');
    expect(text).toContain('[redacted]');
    expectNoSecret(text);
  });

  it('a streamed request failing before the first token carries no key', async () => {
    const { text } = await post(stack.url, chatBody(failing(), true));
    expect(text).toContain('[redacted]');
    expectNoSecret(text);
  });

  it('WebSocket error frame carries no key', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    const handle = ws.chat(JSON.parse(chatBody(failing())) as Record<string, unknown>);
    const err = await handle.result.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WsRequestError);
    const frame = JSON.stringify((err as WsRequestError).frame);
    expect(frame).toContain('[redacted]');
    expectNoSecret(frame);
    ws.close();
  });

  it('logs of an ingress process that relayed the error contain no key', async () => {
    const port = String(await freePort());
    const child = await stack.spawn('ingress', { PORT: port, LOG_LEVEL: 'debug' });
    const { status } = await post(`http://127.0.0.1:${port}`, chatBody(failing()));
    expect(status).toBe(502); // an upstream 401 is our configuration problem, not the client's
    await new Promise((r) => setTimeout(r, 200));
    await child.kill('SIGTERM');
    const out = child.output();
    expect(out).toContain('request failed');
    expectNoSecret(out);
  });

  it('the logger scrubs configured keys and key-shaped tokens from any line (backstop)', () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      const log = createLogger('secrets-test', 'info');
      log.warn({ upstream: { body: echoMessage }, header: `Bearer ${YAML_KEY}` }, `upstream said ${echoMessage}`);
      log.error({ err: new Error(`boom ${ENV_KEY}`) }, 'failed');
    } finally {
      process.stdout.write = write;
    }
    const out = lines.join('');
    expect(out).toContain('upstream said');
    expect(out).toContain('[redacted]');
    expectNoSecret(out);
  });
});

describe('scrubSecrets', () => {
  it('removes key shapes and configured keys, and leaves ordinary error prose alone', () => {
    expect(scrubSecrets(`key ${YAML_KEY} rejected`)).toBe('key [redacted] rejected');
    expect(scrubSecrets('Authorization: Bearer abcdefghijklmnopqrstuvwxyz')).toBe('Authorization: Bearer [redacted]');
    expect(scrubSecrets('AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOp and gsk_abcdefghij12 and sk-ant-api03-xyz123')).toBe(
      '[redacted] and [redacted] and [redacted]',
    );
    for (const prose of ['Missing bearer authentication header', 'task-scheduler risk-assessment', 'model gpt-4o-mini not found'])
      expect(scrubSecrets(prose)).toBe(prose);
  });
});

/** A raw upgrade; resolves with the status and the answered subprotocol header. */
async function upgrade(protocols: string): Promise<{ status: number; protocol: string | undefined }> {
  const res = await rawUpgrade(stack.url, { 'sec-websocket-protocol': protocols });
  return { status: res.status, protocol: res.headers['sec-websocket-protocol'] as string | undefined };
}

describe('WebSocket upgrade', () => {
  it('answers the fixed protocol name, never the key subprotocol', async () => {
    for (const offered of [
      `bearer.${stack.apiKey}`,
      `openai-insecure-api-key.${stack.apiKey}`,
      `bearer.${stack.apiKey}, switchyard.v1`,
      `switchyard.v1, bearer.${stack.apiKey}`,
    ]) {
      const res = await upgrade(offered);
      expect(res.status, offered).toBe(101);
      expect(res.protocol, offered).toBe('switchyard.v1');
    }
  });
});

describe('stored key prefixes and ids', () => {
  it('a short bootstrap key is not stored whole, and its id is random, not derived from its hash', async () => {
    const short = `sk-${randomBytes(3).toString('hex')}`; // 9 characters, like sk-local
    const first = await ensureBootstrapKey(stack.db, short);
    const again = await ensureBootstrapKey(stack.db, short);
    expect(again.keyId).toBe(first.keyId);
    const row = await stack.db.selectFrom('api_keys').selectAll().where('id', '=', first.keyId).executeTakeFirstOrThrow();
    expect(row.key_prefix.length).toBeLessThanOrEqual(Math.floor(short.length / 3));
    expect(short.startsWith(row.key_prefix)).toBe(true);
    expect(row.id).not.toContain(hashApiKey(short).slice(0, 8));
    expect(row.id).toMatch(/^key_[0-9a-f]{32}$/);
  });

  it('an admin-created key stores at most a third of itself', async () => {
    const admin = (path: string, body: unknown) =>
      fetch(`${stack.url}/admin/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));
    const tenant = await admin('/tenants', { name: `t-${randomBytes(4).toString('hex')}` });
    expect(tenant.status).toBe(201);
    const key = await admin(`/tenants/${tenant.body.id}/keys`, { name: 'k' });
    expect(key.status).toBe(201);
    expect(key.body.prefix!.length).toBeGreaterThan(0);
    expect(key.body.prefix!.length).toBeLessThanOrEqual(Math.floor(key.body.key!.length / 3));
    expect(key.body.key!.startsWith(key.body.prefix!)).toBe(true);
  });
});
