import { describe, expect, it } from 'vitest';
import { AttemptRunner, type RequestProgress } from '../../services/worker/attempts.ts';
import { canMerge, runChat, runEmbeddings, runStream, type ExecutionDeps, type UpstreamKeyLike } from '../../services/worker/execute.ts';
import type { UpstreamResponse } from '../../services/worker/upstream.ts';
import { openai } from '../../shared/providers/openai/index.ts';
import { ollama } from '../../shared/providers/ollama/index.ts';
import { anthropic } from '../../shared/providers/anthropic/index.ts';
import { AdapterError, type UpstreamRequest } from '../../shared/providers/types.ts';
import { defaultImageSession } from '../../shared/providers/common/remote-images.ts';
import type { EventBody } from '../../shared/protocol/events.ts';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';

/** One canned upstream answer: a status and the body, as one string or as the reads of a stream. */
interface Canned {
  status: number;
  body: string | string[] | Error;
  headers?: Record<string, string>;
}

function response(c: Canned): UpstreamResponse {
  const reads = typeof c.body === 'string' ? [c.body] : c.body;
  return {
    status: c.status,
    headers: c.headers ?? {},
    body: {
      text: async () => (Array.isArray(reads) ? reads.join('') : ''),
      forEachRead: async (onRead) => {
        if (reads instanceof Error) throw reads;
        for (const r of reads) onRead(Buffer.from(r));
      },
    },
  };
}

/** Keys that answer the canned responses in turn and remember what was sent. */
function setup(...answers: Canned[]) {
  const sent: UpstreamRequest[] = [];
  const key: UpstreamKeyLike = {
    endpoint: (base) => ({ ...base, apiKey: 'sk-key-of-the-pool' }),
    send: async (up) => {
      sent.push(up);
      const next = answers.shift();
      if (!next) throw new Error('no more canned answers');
      return response(next);
    },
  };
  const deps: ExecutionDeps = {
    keys: { pick: () => key },
    images: { session: () => defaultImageSession() },
    attempts: new AttemptRunner({
      breakers: { success: () => {}, failure: () => {} },
      hasFreeKey: () => false,
      maxRetries: 2,
      upstreamTimeoutMs: 60_000,
      fallbackTimeoutMs: 5_000,
      log: { debug: () => {} },
      sleep: async () => {},
    }),
  };
  const job: RequestProgress = {
    requestId: 'req-1',
    abort: new AbortController(),
    attempts: 0,
    estTokens: 10,
    target: 'openai/gpt-4o-mini',
    hasFallback: false,
    spoke: false,
    cancelled: false,
  };
  const events: EventBody[] = [];
  return { deps, job, sent, events, emit: (ev: EventBody) => void events.push(ev) };
}

const target = { adapter: openai, endpoint: { baseUrl: 'http://upstream.test/v1', apiKey: undefined }, model: 'gpt-4o-mini' };
const chatBody: ChatCompletionRequest = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const completion = (text: string) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  });
const sse = (chunk: object) => `data: ${JSON.stringify(chunk)}\n\n`;
const delta = (content: string) =>
  sse({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  });
const finish = sse({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta: {}, finish_reason: 'length' }],
});

describe('runChat', () => {
  it('sends on the picked key, emits one result and returns its usage', async () => {
    const t = setup({ status: 200, body: completion('hello') });
    const out = await runChat(t.deps, { ...target, endpoint: { ...target.endpoint, simulated: true } }, chatBody, t.job, t.emit);
    expect(t.sent[0]!.headers.authorization).toBe('Bearer sk-key-of-the-pool');
    expect(out.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 2 });
    expect(t.events).toEqual([
      expect.objectContaining({
        type: 'result',
        kind: 'chat',
        provider: 'openai',
        target: 'openai/gpt-4o-mini',
        attempts: 1,
        simulated: true,
      }),
    ]);
    expect((t.events[0] as { message: { content: string } }).message.content).toBe('hello');
  });

  it('retries a 503 from the upstream and reports both attempts', async () => {
    const t = setup({ status: 503, body: '{"error":{"message":"overloaded"}}' }, { status: 200, body: completion('second time') });
    await runChat(t.deps, target, chatBody, t.job, t.emit);
    expect(t.sent).toHaveLength(2);
    expect(t.events[0]).toMatchObject({ type: 'result', attempts: 2 });
    expect('simulated' in t.events[0]!).toBe(false);
  });

  it('throws the adapter-parsed upstream error, unretried when the request is at fault', async () => {
    const t = setup({
      status: 400,
      body: '{"error":{"message":"bad messages","type":"invalid_request_error","param":"messages","code":null}}',
    });
    const err = await runChat(t.deps, target, chatBody, t.job, t.emit).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as AdapterError).upstream).toMatchObject({
      status: 400,
      retryable: false,
      error: { message: 'bad messages', param: 'messages' },
    });
    expect(t.events).toEqual([]);
  });
});

describe('runEmbeddings', () => {
  it('refuses a provider without embeddings before any upstream call', async () => {
    const t = setup();
    const err = await runEmbeddings(t.deps, { ...target, adapter: anthropic }, { model: 'x', input: 'a' }, t.job, t.emit).catch(
      (e: unknown) => e,
    );
    expect((err as AdapterError).upstream).toMatchObject({ status: 404, error: { code: 'model_not_found', param: 'model' } });
    expect(t.sent).toEqual([]);
  });

  it('emits the vectors and bills the prompt tokens only', async () => {
    const t = setup({ status: 200, body: JSON.stringify({ model: 'nomic', embeddings: [[0.5, 0.25]], prompt_eval_count: 3 }) });
    const out = await runEmbeddings(
      t.deps,
      { ...target, adapter: ollama, model: 'nomic' },
      { model: 'ollama/nomic', input: 'a' },
      t.job,
      t.emit,
    );
    expect(out.usage).toEqual({ prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 });
    expect(t.events[0]).toMatchObject({ type: 'result', kind: 'embeddings', data: [{ index: 0, embedding: [0.5, 0.25] }] });
  });
});

describe('runStream', () => {
  it('relays one chunk per upstream read, merging its deltas, then done', async () => {
    const t = setup({ status: 200, body: [delta('Hel') + delta('lo'), delta(' world'), finish + 'data: [DONE]\n\n'] });
    const out = await runStream(t.deps, target, { ...chatBody, stream: true }, t.job, t.emit);
    expect(t.events.map((e) => (e.type === 'chunk' ? e.delta.content : e.type))).toEqual(['Hello', ' world', 'done']);
    expect(t.events[0]).toMatchObject({ provider: 'openai', attempts: 1 });
    expect(t.events[1]).not.toHaveProperty('provider');
    expect(t.events[2]).toMatchObject({ type: 'done', finish_reason: 'length', usage: { completion_tokens: 3 } });
    expect(t.job.spoke).toBe(true);
    expect(out.firstTokenAt).toEqual(expect.any(Number));
  });

  it('never retries once a token went out, and says what was used', async () => {
    const t = setup({ status: 200, body: [delta('partial'), 'data: {"choices": ['] }, { status: 200, body: completion('never asked') });
    const err = await runStream(t.deps, target, { ...chatBody, stream: true }, t.job, t.emit).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as { partialUsage?: unknown }).partialUsage).toEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
    expect(t.sent).toHaveLength(1);
  });

  it('turns a connection lost mid-stream into a retryable upstream_connection_error', async () => {
    const t = setup({ status: 200, body: new Error('socket hang up') }, { status: 200, body: [delta('again'), finish] });
    await runStream(t.deps, target, { ...chatBody, stream: true }, t.job, t.emit);
    // Nothing had reached the client, so the second attempt answered.
    expect(t.sent).toHaveLength(2);
    expect(t.events.at(-1)).toMatchObject({ type: 'done', attempts: 2 });

    const lost = setup({ status: 200, body: new Error('socket hang up') });
    const err = await runStream(lost.deps, target, { ...chatBody, stream: true }, { ...lost.job, hasFallback: true }, lost.emit).catch(
      (e: unknown) => e,
    );
    expect((err as AdapterError).upstream).toMatchObject({
      status: 502,
      retryable: true,
      error: { message: 'The upstream connection failed mid-stream: socket hang up', code: 'upstream_connection_error' },
    });
  });
});

describe('canMerge', () => {
  it('joins text of one kind and never tool calls or role deltas', () => {
    expect(canMerge({ content: 'a' }, { content: 'b' })).toBe(true);
    expect(canMerge({ content: 'a' }, { reasoning_content: 'b' })).toBe(false);
    expect(canMerge({ role: 'assistant', content: '' }, { content: 'b' })).toBe(false);
    expect(canMerge({ content: 'a' }, { tool_calls: [{ index: 0, function: { arguments: '{' } }] })).toBe(false);
  });
});
