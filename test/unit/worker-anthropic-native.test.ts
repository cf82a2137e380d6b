// A Messages request on an Anthropic target: the body goes upstream as sent (model rewritten) and the
// upstream's answer is relayed as it came, proven on Anthropic's recorded traffic (../shared/fixtures,
// read in place) cut into 3-byte reads.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttemptRunner, type RequestProgress } from '../../services/worker/attempts.ts';
import { runAnthropicNativeChat, runAnthropicNativeStream } from '../../services/worker/execute-anthropic-native.ts';
import { runMessages } from '../../services/worker/execute-messages.ts';
import type { ExecutionDeps, PartialUsageError, UpstreamKeyLike } from '../../services/worker/execute.ts';
import type { UpstreamResponse } from '../../services/worker/upstream.ts';
import type { MessagesRequest } from '../../shared/protocol/anthropic-messages/request.ts';
import type { ChunkEvent, EventBody } from '../../shared/protocol/events.ts';
import { anthropic } from '../../shared/providers/anthropic/index.ts';
import { defaultImageSession } from '../../shared/providers/common/remote-images.ts';
import { openai } from '../../shared/providers/openai/index.ts';
import { AdapterError, type UpstreamRequest } from '../../shared/providers/types.ts';
import { getAdapter } from '../../shared/providers/registry.ts';

const FIXTURES = process.env.SWITCHYARD_FIXTURES ?? join(import.meta.dirname, '../../../shared/fixtures/anthropic');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
/** A `.chunks.jsonl` recording (one event per line) as the SSE Anthropic sent. */
const chunksAsSse = (name: string) =>
  fixture(name)
    .trim()
    .split('\n')
    .map((line) => `event: ${(JSON.parse(line) as { type: string }).type}\ndata: ${line}\n\n`)
    .join('');
const slices = (text: string, n = 3) => Array.from({ length: Math.ceil(text.length / n) }, (_, i) => text.slice(i * n, i * n + n));

function setup(answer: { status: number; reads: string[] }) {
  const sent: UpstreamRequest[] = [];
  const key: UpstreamKeyLike = {
    endpoint: (base) => ({ ...base, apiKey: 'sk-ant-pool' }),
    send: async (up): Promise<UpstreamResponse> => {
      sent.push(up);
      return {
        status: answer.status,
        headers: {},
        body: {
          text: async () => answer.reads.join(''),
          forEachRead: async (onRead) => {
            for (const r of answer.reads) onRead(Buffer.from(r));
          },
        },
      };
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
    target: 'anthropic/claude-sonnet-4-5',
    hasFallback: false,
    spoke: false,
    cancelled: false,
  };
  const events: EventBody[] = [];
  return { deps, job, sent, events, emit: (ev: EventBody) => void events.push(ev) };
}

const target = { adapter: anthropic, endpoint: { baseUrl: 'http://anthropic.test', apiKey: undefined }, model: 'claude-sonnet-4-5' };
const clientBody = {
  model: 'anthropic/claude-sonnet-4-5',
  max_tokens: 2000,
  system: [{ type: 'text', text: 'terse', cache_control: { type: 'ephemeral' } }],
  thinking: { type: 'enabled', budget_tokens: 1024 },
  messages: [
    { role: 'user', content: 'x + 5 = 12?' },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 't', signature: 'c2ln' },
        { type: 'redacted_thinking', data: 'enc' },
      ],
    },
    { role: 'user', content: [{ type: 'text', text: 'go on', cache_control: { type: 'ephemeral' } }] },
  ],
  container: 'a-field-this-code-has-never-heard-of',
} as unknown as MessagesRequest;

/** The relayed frames, parsed back into their JSON events. */
function relayed(events: EventBody[]): unknown[] {
  const frames = events.flatMap((e) => (e.type === 'chunk' && e.native ? [e.native] : [])).join('');
  return [...frames.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as unknown);
}

describe.skipIf(!existsSync(FIXTURES))('Anthropic passthrough on recorded traffic', () => {
  it('non-streaming: the client body goes up with only the model changed; the recorded answer comes back whole', async () => {
    const recorded = fixture('messages_nonstream_extended_thinking.json');
    const t = setup({ status: 200, reads: [recorded] });
    const out = await runAnthropicNativeChat(t.deps, target, clientBody, 'beta-1', t.job, t.emit);
    expect(JSON.parse(t.sent[0]!.body)).toEqual({ ...clientBody, model: 'claude-sonnet-4-5' });
    expect(t.sent[0]!.url).toBe('http://anthropic.test/v1/messages');
    expect(t.sent[0]!.headers).toMatchObject({ 'x-api-key': 'sk-ant-pool', 'anthropic-beta': 'beta-1', 'anthropic-version': '2023-06-01' });
    expect(t.events).toHaveLength(1);
    expect(t.events[0]).toMatchObject({ type: 'result', kind: 'chat', native: JSON.parse(recorded), provider: 'anthropic' });
    const u = (JSON.parse(recorded) as { usage: { input_tokens: number; output_tokens: number } }).usage;
    expect(out.usage).toMatchObject({ prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens });
  });

  for (const name of [
    'messages_stream_thinking_signature.chunks.jsonl',
    'messages_stream_tool_use_input_json_delta.chunks.jsonl',
    'messages_stream_refusal.chunks.jsonl',
  ]) {
    it(`streaming ${name}: every event relayed unchanged, usage and stop reason read alongside`, async () => {
      const sse = chunksAsSse(name);
      const t = setup({ status: 200, reads: slices(sse) });
      const out = await runAnthropicNativeStream(t.deps, target, { ...clientBody, stream: true }, undefined, t.job, t.emit);
      const lines = fixture(name)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; usage?: { output_tokens: number }; delta?: { stop_reason?: string } });
      expect(relayed(t.events)).toEqual(lines);
      expect(t.sent[0]!.headers.accept).toBe('text/event-stream');
      const chunks = t.events.filter((e): e is Omit<ChunkEvent, 'seq' | 'attempt'> => e.type === 'chunk');
      expect(chunks[0]).toMatchObject({ provider: 'anthropic', attempts: 1, delta: {} });
      expect(t.job.spoke).toBe(true);
      const last = lines.findLast((l) => l.type === 'message_delta')!;
      expect(out.usage.completion_tokens).toBe(last.usage!.output_tokens);
      const done = t.events.at(-1)!;
      expect(done).toMatchObject({ type: 'done', provider: 'anthropic' });
      const expectedFinish = { end_turn: 'stop', tool_use: 'tool_calls', refusal: 'content_filter' }[last.delta!.stop_reason!];
      expect((done as { finish_reason: string }).finish_reason).toBe(expectedFinish);
    });
  }

  it('a mid-stream error event is not relayed: it fails the request (overloaded -> 503), after what came before it', async () => {
    const t = setup({ status: 200, reads: slices(fixture('stream_error_event_overloaded_synthetic.sse')) });
    const err = await runAnthropicNativeStream(t.deps, target, clientBody, undefined, t.job, t.emit).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as AdapterError).upstream.status).toBe(503);
    expect((err as PartialUsageError).partialUsage).toBeDefined();
    expect(relayed(t.events).map((e) => (e as { type: string }).type)).toEqual(['message_start', 'ping']);
    expect(t.sent).toHaveLength(1); // the client had seen events: never retried
  });
});

describe('runMessages', () => {
  it('a body that cannot be carried to another provider fails with a 400 before any upstream call', async () => {
    const t = setup({ status: 200, reads: [] });
    const err = await runMessages(
      t.deps,
      { ...target, adapter: openai, model: 'gpt-4o' },
      clientBody,
      { stream: false },
      t.job,
      t.emit,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as AdapterError).upstream).toMatchObject({ status: 400, retryable: false, error: { param: 'container' } });
    expect(t.sent).toHaveLength(0);
  });

  it('an Anthropic target takes the native path, with the adapter the registry hands out', async () => {
    // Our own minimal answer (this group runs without ../shared/fixtures). The registry wraps each
    // adapter (request-field check), so the native path must not depend on the adapter's identity.
    const answer = {
      id: 'msg_local',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'hi' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 1 },
    };
    const t = setup({ status: 200, reads: [JSON.stringify(answer)] });
    await runMessages(t.deps, { ...target, adapter: getAdapter('anthropic')! }, clientBody, { stream: false }, t.job, t.emit);
    expect(JSON.parse(t.sent[0]!.body)).toMatchObject({ container: 'a-field-this-code-has-never-heard-of' });
  });
});
