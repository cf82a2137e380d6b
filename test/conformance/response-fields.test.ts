// Response fields beyond text and tools (refusal, logprobs, system_fingerprint, service_tier,
// annotations) reach the official openai SDK exactly as OpenAI documents them. The upstream is a replay
// server answering with recorded provider bytes (../shared/fixtures, see its PROVENANCE.md) or, where no
// recording has the field, a body hand-written in the provider's documented shape (marked below).
// Every recording of a chat answer or stream of the OpenAI-dialect providers is replayed.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { classify, FIXTURES_DIR, wireBytes, type Recording } from './replay.ts';
import { proves } from './capabilities.ts';

const MODELS: Record<string, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-5',
  gemini: 'gemini-2.5-flash',
  groq: 'llama-3.3-70b-versatile',
  xai: 'grok-3-mini',
  ollama: 'llama3.2',
};

interface Reply {
  contentType: string;
  body: string;
}
/** What the replay upstream answers for a marker found in the request body. */
const replies = new Map<string, Reply>();
let replay: Server;
let stack: Stack;
let client: OpenAI;
let n = 0;

beforeAll(async () => {
  replay = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      const marker = /replay-\d+/.exec(text)?.[0];
      const reply = marker ? replies.get(marker) : undefined;
      if (!reply) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"no replay"}}');
      res.writeHead(200, { 'content-type': reply.contentType }).end(reply.body);
    });
  });
  await new Promise<void>((r) => replay.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(replay.address() as AddressInfo).port}`;
  stack = await startStack({
    env: { WORKER_MAX_RETRIES: '0' },
    providerEnv: () => ({
      OPENAI_BASE_URL: `${url}/v1`,
      OPENAI_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: url,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      GEMINI_BASE_URL: `${url}/v1beta`,
      GEMINI_API_KEY: 'gem-test',
      GROQ_BASE_URL: `${url}/openai/v1`,
      GROQ_API_KEY: 'gsk-test',
      XAI_BASE_URL: `${url}/v1`,
      XAI_API_KEY: 'xai-test',
      OLLAMA_BASE_URL: url,
    }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await stack?.close();
  replay?.close();
});

function answerWith(reply: Reply): string {
  const marker = `replay-${++n}`;
  replies.set(marker, reply);
  return marker;
}

async function complete(provider: string, reply: Reply) {
  const marker = answerWith(reply);
  return client.chat.completions.create({ model: `${provider}/${MODELS[provider]}`, messages: [{ role: 'user', content: marker }] });
}

async function streamed(provider: string, reply: Reply) {
  const marker = answerWith(reply);
  const stream = await client.chat.completions.create({
    model: `${provider}/${MODELS[provider]}`,
    messages: [{ role: 'user', content: marker }],
    stream: true,
  });
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta));
  return {
    chunks,
    content: deltas.map((d) => d.content ?? '').join(''),
    refusal: deltas.map((d) => d.refusal ?? '').join(''),
    finish: chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).find((f) => f) ?? null,
    logprobs: chunks.flatMap((c) => c.choices.flatMap((ch) => ch.logprobs?.content ?? [])),
  };
}

const json = (body: unknown): Reply => ({ contentType: 'application/json', body: JSON.stringify(body) });
const sse = (body: string): Reply => ({ contentType: 'text/event-stream', body });

// ---- recordings ----
const OPENAI_DIALECT = ['openai', 'groq', 'xai'];
const recordings: Recording[] = existsSync(FIXTURES_DIR)
  ? [...OPENAI_DIALECT, 'anthropic'].flatMap((p) =>
      existsSync(path.join(FIXTURES_DIR, p))
        ? readdirSync(path.join(FIXTURES_DIR, p))
            .sort()
            .map((f) => classify(p, f))
            .filter((r): r is Recording => r !== null && (r.kind === 'chat' || r.kind === 'stream') && r.dialect === p)
        : [],
    )
  : [];

describe.runIf(process.env.CI === 'true')('recorded response fields in CI', () => {
  it(`needs ${FIXTURES_DIR}`, () => expect(existsSync(FIXTURES_DIR), `CI=true but ${FIXTURES_DIR} is missing`).toBe(true));
});

describe.skipIf(!existsSync(FIXTURES_DIR))('recorded answers relay their response fields to the openai SDK', () => {
  it('finds recordings with the fields', () => {
    const names = recordings.map((r) => `${r.provider}/${r.file}`);
    expect(names).toContain('openai/chat_nonstream_text.json');
    expect(names).toContain('anthropic/messages_stream_refusal.chunks.jsonl');
  });

  for (const rec of recordings.filter((r) => OPENAI_DIALECT.includes(r.provider) && r.kind === 'chat')) {
    const claims =
      rec.provider === 'openai'
        ? proves('openai', 'system_fingerprint', 'service_tier', 'annotations')
        : proves(rec.provider, 'system_fingerprint');
    it(`${rec.provider}/${rec.file}: system_fingerprint, service_tier, refusal, logprobs, annotations as recorded ${claims}`, async () => {
      const recorded = JSON.parse(readFileSync(rec.path, 'utf8'));
      const choice = recorded.choices[0];
      const got = await complete(rec.provider, json(recorded));
      expect(got.system_fingerprint).toBe(recorded.system_fingerprint ?? null);
      expect(got.service_tier).toBe(recorded.service_tier);
      expect(got.choices[0]!.logprobs).toEqual(choice.logprobs ?? null);
      // OpenAI always sends refusal (null when the model answered); annotations only when it has them.
      expect(got.choices[0]!.message.refusal).toBe(choice.message.refusal ?? null);
      expect(got.choices[0]!.message.annotations).toEqual(choice.message.annotations);
    });
  }

  for (const rec of recordings.filter((r) => OPENAI_DIALECT.includes(r.provider) && r.kind === 'stream')) {
    it(`${rec.provider}/${rec.file}: every chunk after the first carries the recorded system_fingerprint and service_tier ${proves(rec.provider, 'system_fingerprint')}`, async () => {
      const wire = wireBytes(rec);
      const first = JSON.parse(/^data: (\{.*\})$/m.exec(wire)![1]!);
      const got = await streamed(rec.provider, sse(wire));
      expect(got.chunks.length).toBeGreaterThan(2);
      // The opening role chunk is written before the upstream's first chunk arrives (see the report).
      for (const c of got.chunks.slice(1)) {
        expect(c.system_fingerprint).toBe(first.system_fingerprint ?? null);
        expect(c.service_tier).toBe(first.service_tier);
      }
      expect(got.refusal).toBe('');
    });
  }

  it(`anthropic/messages_stream_refusal.chunks.jsonl: the refusal stop is message.refusal with Anthropic's explanation and finish_reason content_filter ${proves('anthropic', 'refusal')}`, async () => {
    const rec = recordings.find((r) => r.file === 'messages_stream_refusal.chunks.jsonl')!;
    const wire = wireBytes(rec);
    const explanation = JSON.parse(
      wire
        .split('\n')
        .find((l) => l.includes('"refusal"'))!
        .slice('data: '.length),
    ).delta.stop_details.explanation;
    const got = await streamed('anthropic', sse(wire));
    expect(got.refusal).toBe(explanation);
    expect(got.content).toBe('');
    expect(got.finish).toBe('content_filter');
    // The same answer, not streamed: Anthropic's Message with its refusal stop.
    const message = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [],
      stop_reason: 'refusal',
      stop_details: { type: 'refusal', explanation },
      usage: { input_tokens: 18, output_tokens: 5 },
    };
    const whole = await complete('anthropic', json(message));
    expect(whole.choices[0]!.message).toMatchObject({ content: null, refusal: explanation });
    expect(whole.choices[0]!.finish_reason).toBe('content_filter');
  });
});

// ---- hand-written in the provider's documented shape: no recording has these values ----
const TOKENS = [
  {
    token: 'Hi',
    logprob: -0.01,
    bytes: [72, 105],
    top_logprobs: [
      { token: 'Hi', logprob: -0.01, bytes: [72, 105] },
      { token: 'Hey', logprob: -4.2, bytes: [72, 101, 121] },
    ],
  },
  {
    token: '!',
    logprob: -0.3,
    bytes: [33],
    top_logprobs: [
      { token: '!', logprob: -0.3, bytes: [33] },
      { token: '.', logprob: -1.5, bytes: [46] },
    ],
  },
];

describe('response fields no recording has, in the shape each provider documents', () => {
  it(`openai: a refusal and logprobs, whole and streamed ${proves('openai', 'refusal', 'logprobs')}`, async () => {
    const whole = await complete(
      'openai',
      json({
        id: 'c1',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: null, refusal: "I'm sorry, I can't help with that." },
            logprobs: { content: null, refusal: TOKENS },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
        system_fingerprint: 'fp_hand',
        service_tier: 'flex',
      }),
    );
    expect(whole.choices[0]!.message.refusal).toBe("I'm sorry, I can't help with that.");
    expect(whole.choices[0]!.logprobs).toEqual({ content: null, refusal: TOKENS });
    expect(whole.service_tier).toBe('flex');

    const chunk = (delta: object, logprobs: object | null, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: 'c2', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', system_fingerprint: 'fp_hand', choices: [{ index: 0, delta, logprobs, finish_reason: finish }] })}\n\n`;
    const wire =
      chunk({ role: 'assistant', content: '' }, null) +
      chunk({ content: 'Hi' }, { content: [TOKENS[0]], refusal: null }) +
      chunk({ content: '!' }, { content: [TOKENS[1]], refusal: null }) +
      chunk({}, null, 'stop') +
      `data: ${JSON.stringify({ id: 'c2', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } })}\n\ndata: [DONE]\n\n`;
    const got = await streamed('openai', sse(wire));
    expect(got.content).toBe('Hi!');
    expect(got.logprobs).toEqual(TOKENS);

    const refusing =
      chunk({ role: 'assistant', content: null, refusal: '' }, null) +
      chunk({ refusal: "I'm sorry" }, null) +
      chunk({ refusal: ", I can't." }, null) +
      chunk({}, null, 'stop') +
      'data: [DONE]\n\n';
    const refused = await streamed('openai', sse(refusing));
    expect(refused.refusal).toBe("I'm sorry, I can't.");
    expect(refused.content).toBe('');
  });

  it(`openai: url_citation annotations of a web-search answer ${proves('openai', 'annotations')}`, async () => {
    const annotations = [
      { type: 'url_citation', url_citation: { start_index: 0, end_index: 5, url: 'https://example.com/', title: 'Example' } },
    ];
    const got = await complete(
      'openai',
      json({
        id: 'c3',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-search-preview',
        choices: [
          { index: 0, message: { role: 'assistant', content: 'Hello', refusal: null, annotations }, logprobs: null, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      }),
    );
    expect(got.choices[0]!.message.annotations).toEqual(annotations);
  });

  it('n > 1: every choice of an OpenAI-compatible answer and every Gemini candidate reaches the SDK, in order', async () => {
    const choice = (index: number, content: string, finish: string) => ({
      index,
      message: { role: 'assistant', content, refusal: null },
      logprobs: null,
      finish_reason: finish,
    });
    const openai = await complete(
      'openai',
      json({
        id: 'c4',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [choice(0, 'one', 'stop'), choice(1, 'two', 'length'), choice(2, 'three', 'stop')],
        usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
      }),
    );
    expect(openai.choices.map((c) => [c.index, c.message.content, c.finish_reason, c.message.refusal])).toEqual([
      [0, 'one', 'stop', null],
      [1, 'two', 'length', null],
      [2, 'three', 'stop', null],
    ]);
    const candidate = (text: string, finishReason: string) => ({ content: { role: 'model', parts: [{ text }] }, finishReason });
    const gemini = await complete(
      'gemini',
      json({
        candidates: [candidate('uno', 'STOP'), candidate('dos', 'MAX_TOKENS')],
        usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 },
      }),
    );
    expect(gemini.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, 'uno', 'stop'],
      [1, 'dos', 'length'],
    ]);
  });

  it(`ollama: its logprobs token list becomes OpenAI logprobs, whole and streamed ${proves('ollama', 'logprobs')}`, async () => {
    // Ollama 0.12.11+ (`logprobs: true`): OpenAI's token shape, as a bare list beside the message.
    const base = { model: 'llama3.2', created_at: '2025-11-12T00:00:00Z' };
    const whole = await complete(
      'ollama',
      json({
        ...base,
        message: { role: 'assistant', content: 'Hi!' },
        logprobs: TOKENS,
        done: true,
        done_reason: 'stop',
        prompt_eval_count: 5,
        eval_count: 2,
      }),
    );
    expect(whole.choices[0]!.logprobs).toEqual({ content: TOKENS, refusal: null });
    const lines = [
      { ...base, message: { role: 'assistant', content: 'Hi' }, logprobs: [TOKENS[0]], done: false },
      { ...base, message: { role: 'assistant', content: '!' }, logprobs: [TOKENS[1]], done: false },
      { ...base, message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 2 },
    ];
    const got = await streamed('ollama', {
      contentType: 'application/x-ndjson',
      body: lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
    });
    expect(got.content).toBe('Hi!');
    expect(got.logprobs).toEqual(TOKENS);
  });

  it(`gemini: logprobsResult becomes OpenAI logprobs, whole and streamed ${proves('gemini', 'logprobs')}`, async () => {
    // Gemini's documented LogprobsResult: chosen token per step, the top candidates per step.
    const logprobsResult = {
      topCandidates: [
        {
          candidates: [
            { token: 'Hi', tokenId: 1, logProbability: -0.01 },
            { token: 'Hey', tokenId: 2, logProbability: -4.2 },
          ],
        },
        {
          candidates: [
            { token: '!', tokenId: 3, logProbability: -0.3 },
            { token: '.', tokenId: 4, logProbability: -1.5 },
          ],
        },
      ],
      chosenCandidates: [
        { token: 'Hi', tokenId: 1, logProbability: -0.01 },
        { token: '!', tokenId: 3, logProbability: -0.3 },
      ],
    };
    const usageMetadata = { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 };
    const whole = await complete(
      'gemini',
      json({
        candidates: [{ content: { role: 'model', parts: [{ text: 'Hi!' }] }, finishReason: 'STOP', logprobsResult, avgLogprobs: -0.15 }],
        usageMetadata,
      }),
    );
    expect(whole.choices[0]!.logprobs).toEqual({ content: TOKENS, refusal: null });

    const frame = (obj: object) => `data: ${JSON.stringify(obj)}\r\n\r\n`;
    const wire =
      frame({
        candidates: [
          {
            content: { role: 'model', parts: [{ text: 'Hi' }] },
            logprobsResult: { topCandidates: [logprobsResult.topCandidates[0]], chosenCandidates: [logprobsResult.chosenCandidates[0]] },
          },
        ],
      }) +
      frame({
        candidates: [
          {
            content: { role: 'model', parts: [{ text: '!' }] },
            finishReason: 'STOP',
            logprobsResult: { topCandidates: [logprobsResult.topCandidates[1]], chosenCandidates: [logprobsResult.chosenCandidates[1]] },
          },
        ],
        usageMetadata,
      });
    const got = await streamed('gemini', sse(wire));
    expect(got.content).toBe('Hi!');
    expect(got.logprobs).toEqual(TOKENS);
  });
});
