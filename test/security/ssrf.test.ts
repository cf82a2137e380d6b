// Outbound fetches of tenant image URLs (Gemini and Ollama need inline bytes): no loopback, private or
// link-local target in any spelling, no DNS rebinding, redirects re-checked, per-request caps, client
// cancellation, and one error text whatever went wrong. Through the whole stack (real nats-server and
// Postgres, Gemini/Ollama simulators) and, for name resolution the test must script, the fetcher alone.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { isDeniedAddress } from '../../shared/providers/common/address-policy.ts';
import { DEFAULT_IMAGE_POLICY, ImageFetcher, imagePolicyFromConfig } from '../../shared/providers/common/remote-images.ts';
import { ConfigFileError, loadConfigFile, parseConfigFile } from '../../shared/config/file.ts';
import { AdapterError } from '../../shared/providers/types.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
// The allowlisted "internal image host" of these tests; Linux routes all of 127/8 to loopback.
const ALLOWED_HOST = '127.0.0.2';

interface Listener {
  server: Server;
  port: number;
  connections: number;
  requests: string[];
  /** Requests whose client went away before the answer ended. */
  aborted: number;
}

async function listen(host: string, handler: (req: IncomingMessage, res: ServerResponse, l: Listener) => void): Promise<Listener> {
  const port = await freePort();
  const l: Listener = { server: createServer((req, res) => handler(req, res, l)), port, connections: 0, requests: [], aborted: 0 };
  l.server.on('connection', () => l.connections++);
  await new Promise<void>((r) => l.server.listen(port, host, r));
  return l;
}

/** Loopback service that must never be reached by a tenant URL. */
let victim: Listener;
/** The allowlisted image host: images, redirects, 404s, slow and endless answers. */
let images: Listener;
let stack: Stack;

function imageRoutes(req: IncomingMessage, res: ServerResponse, l: Listener): void {
  const url = new URL(req.url!, 'http://x');
  l.requests.push(url.pathname);
  req.on('close', () => {
    if (!res.writableFinished) l.aborted++;
  });
  if (url.pathname === '/img.png') {
    res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
  } else if (url.pathname === '/redirect') {
    res.writeHead(302, { location: url.searchParams.get('to')! }).end();
  } else if (url.pathname.startsWith('/hop')) {
    const n = Number(url.pathname.slice(4));
    res.writeHead(302, { location: n > 0 ? `/hop${n - 1}` : '/img.png' }).end();
  } else if (url.pathname === '/bytes') {
    // Streamed without content-length: only a running count can stop it.
    const total = Number(url.searchParams.get('n'));
    res.writeHead(200, { 'content-type': 'image/png' });
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    const pump = () => {
      while (sent < total && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  } else if (url.pathname === '/hang') {
    // Never answers: only the client's cancel (or the deadline) ends it.
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no ${url.pathname} on port ${l.port}`);
  }
}

beforeAll(async () => {
  victim = await listen('127.0.0.1', (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
  images = await listen(ALLOWED_HOST, imageRoutes);
  const dir = mkdtempSync(join(tmpdir(), 'sy-ssrf-'));
  const configPath = join(dir, 'switchyard.yaml');
  writeFileSync(
    configPath,
    [
      'images:',
      `  allow_hosts: ['${ALLOWED_HOST}']`,
      '  max_remote_images: 3',
      '  max_total_bytes: 1000000',
      '  max_image_bytes: 700000',
      '  timeout_ms: 20000',
      '',
    ].join('\n'),
  );
  stack = await startStack({
    env: { SWITCHYARD_CONFIG: configPath, WORKER_MAX_RETRIES: '0' },
    providerEnv: (mock) => ({
      GEMINI_BASE_URL: `${mock}/gemini/v1beta`,
      GEMINI_API_KEY: 'gm-test',
      OLLAMA_BASE_URL: `${mock}/ollama`,
      ANTHROPIC_BASE_URL: `${mock}/anthropic`,
      ANTHROPIC_API_KEY: 'an-test',
    }),
  });
});
afterAll(async () => {
  images?.server.closeAllConnections();
  images?.server.close();
  victim?.server.close();
  await stack?.close();
});

function body(model: string, urls: string[], stream = false) {
  return {
    model,
    stream,
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'describe' }, ...urls.map((url) => ({ type: 'image_url', image_url: { url } }))] },
    ],
  };
}

async function chat(b: unknown): Promise<{ status: number; json: { error?: Record<string, unknown> } }> {
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(b),
  });
  return { status: res.status, json: (await res.json()) as { error?: Record<string, unknown> } };
}

const NOT_ALLOWED = {
  message: 'image URL not allowed',
  type: 'invalid_request_error',
  param: 'messages[0].content',
  code: 'image_url_not_allowed',
};
const NOT_FETCHED = {
  message: 'image could not be fetched',
  type: 'invalid_request_error',
  param: 'messages[0].content',
  code: 'image_fetch_failed',
};

describe('tenant image URLs through the stack (Gemini, Ollama)', () => {
  it('denies loopback in every spelling, and the target sees no connection at all', async () => {
    const p = victim.port;
    const spellings = [
      `http://127.0.0.1:${p}/`,
      `http://localhost:${p}/`,
      `http://LOCALHOST:${p}/`,
      `http://2130706433:${p}/`,
      `http://0x7f000001:${p}/`,
      `http://0177.0.0.1:${p}/`,
      `http://127.1:${p}/`,
      `http://[::1]:${p}/`,
      `http://[::ffff:127.0.0.1]:${p}/`,
      `http://[::ffff:7f00:1]:${p}/`,
      `http://0.0.0.0:${p}/`,
      `http://0:${p}/`,
      `http://169.254.169.254/latest/meta-data/`,
      `http://10.0.0.1:${p}/`,
      `http://[fd00::1]:${p}/`,
      `http://[fe80::1]:${p}/`,
      `file:///etc/passwd`,
      `ftp://127.0.0.1:${p}/`,
    ];
    for (const model of ['gemini/gemini-2.5-flash', 'ollama/llama3.2']) {
      for (const url of spellings) {
        const res = await chat(body(model, [url]));
        expect(res.status, `${model} ${url}`).toBe(400);
        expect(res.json.error, `${model} ${url}`).toEqual(NOT_ALLOWED);
      }
    }
    expect(victim.connections).toBe(0);
  });

  it('fetches an allowlisted host and sends the bytes inline', async () => {
    const before = images.requests.length;
    for (const model of ['gemini/gemini-2.5-flash', 'ollama/llama3.2']) {
      const res = await chat(body(model, [`http://${ALLOWED_HOST}:${images.port}/img.png`]));
      expect(res.status, model).toBe(200);
    }
    expect(images.requests.slice(before)).toEqual(['/img.png', '/img.png']);
  });

  it('re-checks every redirect hop: an allowed host redirecting to loopback is denied before connecting', async () => {
    for (const to of [`http://127.0.0.1:${victim.port}/`, `http://localhost:${victim.port}/x`, `http://[::1]:${victim.port}/`]) {
      const res = await chat(
        body('gemini/gemini-2.5-flash', [`http://${ALLOWED_HOST}:${images.port}/redirect?to=${encodeURIComponent(to)}`]),
      );
      expect(res.status, to).toBe(400);
      expect(res.json.error, to).toEqual(NOT_ALLOWED);
    }
    expect(victim.connections).toBe(0);
    // Three hops are followed, a fourth is not.
    expect((await chat(body('gemini/gemini-2.5-flash', [`http://${ALLOWED_HOST}:${images.port}/hop2`]))).status).toBe(200);
    const tooMany = await chat(body('gemini/gemini-2.5-flash', [`http://${ALLOWED_HOST}:${images.port}/hop3`]));
    expect(tooMany.json.error).toEqual(NOT_FETCHED);
  });

  it('answers refused connection, 404 and DNS failure with one and the same error', async () => {
    const closedPort = await freePort();
    const answers = [];
    for (const url of [
      `http://${ALLOWED_HOST}:${closedPort}/img.png`,
      `http://${ALLOWED_HOST}:${images.port}/missing.png`,
      `http://no-such-host.invalid/img.png`,
    ]) {
      const res = await chat(body('gemini/gemini-2.5-flash', [url]));
      answers.push({ status: res.status, error: res.json.error });
    }
    for (const a of answers) expect(a).toEqual({ status: 400, error: NOT_FETCHED });
  });

  it('caps the number of remote images per request', async () => {
    const before = images.requests.length;
    const url = `http://${ALLOWED_HOST}:${images.port}/img.png`;
    const res = await chat(body('gemini/gemini-2.5-flash', [url, url, url, url]));
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'too_many_images', param: 'messages[0].content' });
    expect(images.requests.length - before).toBeLessThanOrEqual(3);
  });

  it('caps the bytes of one image and of all images of a request, counting while streaming', async () => {
    const big = `http://${ALLOWED_HOST}:${images.port}/bytes?n=${900_000}`;
    const one = await chat(body('gemini/gemini-2.5-flash', [big]));
    expect(one.status).toBe(400);
    expect(one.json.error).toMatchObject({ code: 'image_too_large', param: 'messages[0].content' });
    // Two images under the per-image cap, over the per-request total.
    const half = `http://${ALLOWED_HOST}:${images.port}/bytes?n=${600_000}`;
    const two = await chat(body('ollama/llama3.2', [half, half]));
    expect(two.status).toBe(400);
    expect(two.json.error).toMatchObject({ code: 'images_too_large', param: 'messages[0].content' });
  });

  it('aborts the image fetch when the client cancels the request', async () => {
    const abortedBefore = images.aborted;
    const hangsBefore = images.requests.filter((r) => r === '/hang').length;
    // Not streamed: a disconnected stream stays resumable for a grace period before it is cancelled.
    const payload = JSON.stringify(body('gemini/gemini-2.5-flash', [`http://${ALLOWED_HOST}:${images.port}/hang`]));
    const url = new URL(stack.url);
    const client = request({
      host: url.hostname,
      port: url.port,
      path: '/v1/chat/completions',
      method: 'POST',
      agent: false,
      headers: {
        authorization: `Bearer ${stack.apiKey}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      },
    });
    client.on('error', () => {});
    client.end(payload);
    await waitFor(() => images.requests.filter((r) => r === '/hang').length > hangsBefore, { what: 'image request arrived' });
    const cancelledAt = Date.now();
    client.destroy();
    // Far inside the image deadline (20 s here, 10 s before this fix): the cancel itself ended the fetch.
    await waitFor(() => images.aborted > abortedBefore, { what: 'image fetch aborted', timeoutMs: 5_000 });
    expect(Date.now() - cancelledAt).toBeLessThan(3_000);
  });

  it('passes URLs to providers that fetch them themselves and fetches nothing (OpenAI, Anthropic)', async () => {
    const url = `http://127.0.0.1:${victim.port}/img.png`;
    const before = victim.connections;
    expect((await chat(body('openai/gpt-4o-mini', [url]))).status).toBe(200);
    expect((await chat(body('anthropic/claude-sonnet-4-5', [url]))).status).toBe(200);
    expect(victim.connections).toBe(before);
    const upstream = stack.mock.requests.filter((r) => /anthropic|\/v1\/chat\/completions$/.test(r.path)).slice(-2);
    expect(JSON.stringify(upstream.map((r) => r.body))).toContain(url);
  });
});

describe('name resolution (the fetcher with a scripted resolver)', () => {
  const addr = (address: string): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 });

  async function outcome(fetcher: ImageFetcher, url: string): Promise<string> {
    try {
      await fetcher.session().fetch(url, 'messages[0].content');
      return 'fetched';
    } catch (err) {
      expect(err).toBeInstanceOf(AdapterError);
      return (err as AdapterError).upstream.error.message;
    }
  }

  it('denies a public-looking name that resolves to loopback or a private address, without connecting', async () => {
    for (const answer of [
      ['127.0.0.1'],
      ['::1'],
      ['10.1.2.3'],
      ['93.184.216.34', '127.0.0.1'],
      ['::ffff:127.0.0.1'],
      ['64:ff9b::7f00:1'],
    ]) {
      const fetcher = new ImageFetcher({}, { resolve: async () => answer.map(addr) });
      expect(await outcome(fetcher, `http://images.example.com:${victim.port}/img.png`), answer.join()).toBe('image URL not allowed');
      await fetcher.close();
    }
    expect(victim.connections).toBe(0);
  });

  it('resolves once and connects to the checked address: a rebinding answer is never used', async () => {
    let calls = 0;
    // First answer public (passes the check), every later one loopback: a check-then-fetch design connects to loopback.
    const fetcher = new ImageFetcher({ timeoutMs: 1_500 }, { resolve: async () => [addr(calls++ === 0 ? '192.88.98.1' : '127.0.0.1')] });
    expect(await outcome(fetcher, `http://rebind.example.com:${victim.port}/img.png`)).toBe('image could not be fetched');
    expect(calls).toBe(1);
    expect(victim.connections).toBe(0);
    await fetcher.close();
  });

  it('an allowlisted name may resolve to a private address; a timeout reads like every other failure', async () => {
    const fetcher = new ImageFetcher({ allowHosts: ['*.corp.example'], timeoutMs: 500 }, { resolve: async () => [addr(ALLOWED_HOST)] });
    expect(await outcome(fetcher, `http://img.corp.example:${images.port}/img.png`)).toBe('fetched');
    expect(await outcome(fetcher, `http://img.corp.example:${images.port}/hang`)).toBe('image could not be fetched');
    expect(await outcome(fetcher, `http://corp.example.evil.com:${images.port}/img.png`)).toBe('image URL not allowed');
    await fetcher.close();
  });

  it('classifies addresses by range, IPv4 inside IPv6 included', () => {
    const denied = [
      '127.0.0.1',
      '127.255.255.254',
      '0.0.0.0',
      '10.0.0.1',
      '100.64.0.1',
      '169.254.169.254',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '198.18.0.1',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '::127.0.0.1',
      '64:ff9b::a00:1',
      '2002:7f00:1::',
      '2001:0:4136:e378::1',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      'fe80::1%eth0',
      'ff02::1',
      'not-an-ip',
    ];
    const allowed = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2002:808:808::'];
    for (const a of denied) expect(isDeniedAddress(a), a).toBe(true);
    for (const a of allowed) expect(isDeniedAddress(a), a).toBe(false);
  });
});

describe('images: section of the config file', () => {
  it('becomes the fetch policy; bad host entries are refused at their line', () => {
    const c = parseConfigFile("images:\n  allow_hosts: [Images.Internal.example, '*.cdn.corp', '[fd00::5]']\n  max_remote_images: 2\n");
    expect(new ImageFetcher(imagePolicyFromConfig(c.images)).policy).toEqual({
      ...DEFAULT_IMAGE_POLICY,
      allowHosts: ['images.internal.example', '*.cdn.corp', 'fd00::5'],
      maxImages: 2,
    });
    expect(imagePolicyFromConfig(parseConfigFile('').images)).toEqual({});
    expect(() => parseConfigFile('images:\n  allow_hosts: [http://x:80/]\n')).toThrow(ConfigFileError);
    expect(() => parseConfigFile('images:\n  allow_hostz: []\n')).toThrow(/unknown field 'allow_hostz'/);
    // The documented example keeps the defaults.
    const example = loadConfigFile('deploy/switchyard.example.yaml', {
      OPENAI_API_KEY: 'a',
      OPENAI_API_KEY_2: 'b',
      ANTHROPIC_API_KEY: 'c',
      GROQ_API_KEY: 'd',
    });
    expect(new ImageFetcher(imagePolicyFromConfig(example!.images)).policy).toEqual(DEFAULT_IMAGE_POLICY);
  });
});
