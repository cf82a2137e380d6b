// node --test bench/gomodel-like.test.ts
// Builds the gomodel-like peer (skipped without Go), starts it as the benchmark does against a tiny
// upstream in this process, and checks what the benchmark relies on plus the work it is meant to model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gomodelLike } from './peers/gomodel-like.ts';

const noGo = spawnSync('go', ['version']).error ? 'Go is not installed' : false;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// Separate writes a few ms apart, so the peer reads them one by one; a comment line, a multi-byte
// character and odd spacing must all come through byte for byte.
const EVENTS = [
  ': keep-alive\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"héllo"}}],  "x_extra":1}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" wörld"}}]}\n\n',
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
  'data: [DONE]\n\n',
];

function completion(model: string, content: string): Record<string, unknown> {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 } },
    service_tier: 'default',
    system_fingerprint: 'fp_test',
  };
}

interface Seen {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

void test('gomodel-like: typed round trip, stream relay, auth, request id', { skip: noGo, timeout: 90_000 }, async (t) => {
  const seen: Seen[] = [];
  const upstream = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: ['gpt-4o-mini', 'gpt-4o'].map((id) => ({ id, object: 'model', created: 0, owned_by: 'openai' })),
        }),
      );
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      seen.push({ headers: req.headers, body });
      const text = JSON.stringify(body.messages);
      if (text.includes('fail')) {
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_exceeded', param: null, code: 'rate_limit_exceeded' } }));
      } else if (body.stream && !text.includes('ignore stream')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let i = 0;
        const next = () => {
          res.write(EVENTS[i++]);
          if (i < EVENTS.length) setTimeout(next, 5);
          else res.end();
        };
        next();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(completion(String(body.model), 'hello')));
      }
    });
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const { port } = upstream.address() as AddressInfo;

  const installed = gomodelLike.install();
  assert.ok(installed.ok, installed.ok ? '' : installed.why);
  const peer = await gomodelLike.start(`http://127.0.0.1:${port}/v1`);
  const post = (body: unknown, headers: Record<string, string> = peer.headers) =>
    fetch(peer.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const lastSeen = () => seen[seen.length - 1]!;

  try {
    await t.test('non-streaming: model prefix stripped upstream, unknown fields forwarded, answer re-encoded with provider', async () => {
      const res = await post({
        model: peer.model,
        messages: [{ role: 'user', content: 'hi', name: 'ann' }],
        temperature: 0.2,
        x_vendor_option: { nested: [1, 'two', null], deep: { ok: true } },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const id = res.headers.get('x-request-id') ?? '';
      assert.match(id, UUID_V4);
      const answer = (await res.json()) as Record<string, unknown> & { choices: Array<{ message: { content: string } }> };
      assert.equal(answer.provider, 'openai');
      assert.equal(answer.model, 'gpt-4o-mini');
      assert.equal(answer.choices[0]!.message.content, 'hello');
      assert.deepEqual(answer.usage, {
        prompt_tokens: 3,
        completion_tokens: 2,
        total_tokens: 5,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      });
      const up = lastSeen();
      assert.equal(up.body.model, 'gpt-4o-mini');
      assert.equal('provider' in up.body, false);
      assert.equal(up.body.temperature, 0.2);
      assert.deepEqual(up.body.messages, [{ role: 'user', content: 'hi', name: 'ann' }]);
      assert.deepEqual(up.body.x_vendor_option, { nested: [1, 'two', null], deep: { ok: true } });
      assert.equal(up.headers.authorization, 'Bearer sk-upstream');
      assert.equal(up.headers['x-client-request-id'], id);
    });

    await t.test('a client X-Request-ID is kept; a provider field is a routing hint only', async () => {
      const res = await post(
        { model: 'gpt-4o', provider: 'openai', messages: [{ role: 'user', content: [{ type: 'text', text: 'parts' }] }] },
        { ...peer.headers, 'x-request-id': 'client-id-1' },
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-request-id'), 'client-id-1');
      await res.arrayBuffer();
      const up = lastSeen();
      assert.equal(up.body.model, 'gpt-4o');
      assert.equal('provider' in up.body, false);
      assert.deepEqual(up.body.messages, [{ role: 'user', content: [{ type: 'text', text: 'parts' }] }]);
      assert.equal(up.headers['x-client-request-id'], 'client-id-1');
    });

    await t.test('streaming: the upstream bytes pass through unchanged and in order', async () => {
      const res = await post({
        model: peer.model,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      assert.match(res.headers.get('x-request-id') ?? '', UUID_V4);
      assert.equal(Buffer.from(await res.arrayBuffer()).toString(), EVENTS.join(''));
      const up = lastSeen();
      assert.equal(up.body.stream, true);
      assert.deepEqual(up.body.stream_options, { include_usage: true });
      assert.equal(up.body.model, 'gpt-4o-mini');
    });

    await t.test('streaming: a JSON answer from an upstream that ignored stream becomes one chunk and [DONE]', async () => {
      const res = await post({ model: peer.model, stream: true, messages: [{ role: 'user', content: 'ignore stream' }] });
      assert.equal(res.status, 200);
      const events = (await res.text()).split('\n\n').filter(Boolean);
      assert.equal(events.length, 2);
      assert.equal(events[1], 'data: [DONE]');
      const chunk = JSON.parse(events[0]!.replace(/^data: /, '')) as { object: string; choices: Array<{ delta: { content: string } }> };
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.choices[0]!.delta.content, 'hello');
    });

    await t.test('a wrong or missing client key gets 401 and never reaches the upstream', async () => {
      const before = seen.length;
      for (const headers of [{ authorization: 'Bearer sk-wrong' }, {}] as Array<Record<string, string>>) {
        const res = await post({ model: peer.model, messages: [{ role: 'user', content: 'hi' }] }, headers);
        assert.equal(res.status, 401);
        assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'authentication_error');
      }
      assert.equal(seen.length, before);
    });

    await t.test('upstream errors keep their status and message; unknown models are refused', async () => {
      const res = await post({ model: peer.model, messages: [{ role: 'user', content: 'fail' }] });
      assert.equal(res.status, 429);
      assert.equal(((await res.json()) as { error: { message: string } }).error.message, 'slow down');
      const unknown = await post({ model: 'openai/no-such-model', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(unknown.status, 400);
      await unknown.arrayBuffer();
    });
  } finally {
    await peer.stop();
    upstream.closeAllConnections();
    upstream.close();
  }
});
