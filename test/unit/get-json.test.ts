// getJson: the control plane's own GET (model lists) without the global fetch: JSON in, clear errors
// out, bounded in time and size, no redirects followed, and Node's internal undici never loaded.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../../shared/runtime/get-json.ts';

let server: Server;
let base: string;
const seen: Array<Record<string, string | string[] | undefined>> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    switch (req.url) {
      case '/ok':
      case '/v1-ok/models':
        return res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[{"id":"m"}]}');
      case '/down':
        return res.writeHead(503).end('{"error":{"message":"down"}}');
      case '/moved':
        return res.writeHead(301, { location: '/ok' }).end();
      case '/big':
        return res.writeHead(200).end(`{"pad":"${'x'.repeat(4096)}"}`);
      case '/html':
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
      case '/silent':
        return; // never answers
      default:
        return res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('getJson', () => {
  it('parses a 2xx JSON body and sends accept and the given headers', async () => {
    await expect(getJson(`${base}/ok`, { headers: { authorization: 'Bearer k' }, timeoutMs: 2_000 })).resolves.toEqual({
      data: [{ id: 'm' }],
    });
    expect(seen.at(-1)).toMatchObject({ accept: 'application/json', authorization: 'Bearer k' });
  });

  it('rejects a non-2xx answer with its status, and does not follow a redirect', async () => {
    await expect(getJson(`${base}/down`, { timeoutMs: 2_000 })).rejects.toMatchObject({ status: 503, message: 'GET /down answered 503' });
    const before = seen.length;
    await expect(getJson(`${base}/moved`, { timeoutMs: 2_000 })).rejects.toMatchObject({ status: 301 });
    expect(seen.length).toBe(before + 1);
  });

  it('rejects a body over maxBytes and a body that is not JSON', async () => {
    await expect(getJson(`${base}/big`, { timeoutMs: 2_000, maxBytes: 1024 })).rejects.toThrow('body over 1024 bytes');
    await expect(getJson(`${base}/big`, { timeoutMs: 2_000 })).resolves.toMatchObject({ pad: expect.any(String) });
    await expect(getJson(`${base}/html`, { timeoutMs: 2_000 })).rejects.toThrow('the body is not JSON');
  });

  it('gives up after timeoutMs, and on a refused connection or another protocol', async () => {
    const t0 = Date.now();
    await expect(getJson(`${base}/silent`, { timeoutMs: 200 })).rejects.toThrow('took longer than 200 ms');
    expect(Date.now() - t0).toBeLessThan(2_000);
    await expect(getJson('http://127.0.0.1:9/x', { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(getJson('file:///etc/passwd', { timeoutMs: 2_000 })).rejects.toThrow('unsupported protocol file:');
  });

  it("fetching a model list does not load Node's internal undici (the global fetch's)", async () => {
    // A child process: vitest's own process may have used fetch already.
    const script = `
      import { fetchModelList, openAICompatibleModelList } from './shared/providers/common/model-lists.ts';
      const models = await fetchModelList(openAICompatibleModelList, process.argv[1], 'k', 2000);
      console.log(JSON.stringify({ models, undici: process.moduleLoadList.filter((m) => m.includes('deps/undici')) }));
    `;
    // Asynchronously: the server answering it runs in this process.
    const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, `${base}/v1-ok`], { cwd: process.cwd() });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ models: [{ id: 'm' }], undici: [] });
  });
});
