// The worker's output guard without servers: events in, checked events out, in order.
import { describe, expect, it } from 'vitest';
import { parseConfigFile } from '../../shared/config/file.ts';
import type { EventBody } from '../../shared/protocol/events.ts';
import { GuardrailRegistry } from '../../shared/guardrails/registry.ts';
import { OutputGuard } from '../../services/worker/output-guard.ts';

const registry = new GuardrailRegistry(
  parseConfigFile(
    [
      'guardrails:',
      '  - {name: pii, kind: pii, mode: post_call}',
      '  - {name: bl, kind: blocklist, mode: post_call, keywords: [forbidden]}',
      '  - {name: tl, kind: tools, mode: post_call, deny: [shell]}',
      '  - {name: mx, kind: max_input_tokens, mode: during_call, max_tokens: 3}',
    ].join('\n'),
  ),
);
const ctx = { requestId: 'req_1', tenantId: 't', keyId: null, model: 'm' };
const done: EventBody = {
  type: 'done',
  finish_reason: 'stop',
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  model: 'm',
  provider: 'openai',
};

function guarded(names: string[], body: object = {}) {
  const out: EventBody[] = [];
  let aborted = 0;
  const guard = OutputGuard.create(registry, { names, body, ctx, emit: (ev) => out.push(ev), onViolation: () => aborted++ })!;
  return { guard, out, aborted: () => aborted };
}

const text = (evs: EventBody[]) => evs.map((e) => (e.type === 'chunk' ? (e.delta.content ?? '') : '')).join('');

describe('OutputGuard', () => {
  it('is null (free) without worker guardrails', () => {
    expect(OutputGuard.create(registry, { names: [], body: {}, ctx, emit: () => {}, onViolation: () => {} })).toBeNull();
  });

  it("masks across chunks and moves the first chunk's provider header to the first chunk it publishes", async () => {
    const { guard, out } = guarded(['pii']);
    guard.emit({ type: 'chunk', delta: { content: 'mail a' }, provider: 'openai', attempts: 1 });
    guard.emit({ type: 'chunk', delta: { content: 'da@exam' } });
    guard.emit({ type: 'chunk', delta: { content: 'ple.com now' } });
    guard.emit(done);
    await guard.settled();
    expect(text(out)).toBe('mail [EMAIL] now');
    expect(out[0]).toMatchObject({ type: 'chunk', provider: 'openai', attempts: 1 });
    expect(out.at(-1)).toEqual(done);
  });

  it('a violation after text was sent: content_filter chunk, then the error, then nothing; the upstream is stopped', async () => {
    const { guard, out, aborted } = guarded(['bl']);
    guard.emit({ type: 'chunk', delta: { content: 'a harmless start of the answer, ' } });
    guard.emit({ type: 'chunk', delta: { content: 'then forbid' } });
    guard.emit({ type: 'chunk', delta: { content: 'den words' } });
    guard.emit(done);
    await guard.settled();
    expect(text(out)).not.toContain('forbid');
    expect(out.slice(-2)).toEqual([
      { type: 'chunk', delta: {}, finish_reason: 'content_filter' },
      { type: 'error', status: 400, error: expect.objectContaining({ code: 'guardrail_blocked' }) as unknown },
    ]);
    expect(guard.violation?.guardrail).toBe('bl');
    expect(aborted()).toBe(1);
  });

  it("refuses a denied tool call in a result; masks a result's text", async () => {
    const call = { id: 'c1', type: 'function' as const, function: { name: 'shell', arguments: '{}' } };
    const result = (content: string | null, tool_calls?: Array<typeof call>): EventBody => ({
      type: 'result',
      kind: 'chat',
      message: { role: 'assistant', content, ...(tool_calls ? { tool_calls } : {}) },
      finish_reason: 'stop',
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      model: 'm',
      provider: 'openai',
    });
    const a = guarded(['tl', 'pii']);
    a.guard.emit(result(null, [call]));
    await a.guard.settled();
    expect(a.out).toEqual([
      {
        type: 'error',
        status: 400,
        error: expect.objectContaining({
          code: 'guardrail_blocked',
          message: expect.stringContaining("tool 'shell'") as unknown,
        }) as unknown,
      },
    ]);
    const b = guarded(['tl', 'pii']);
    b.guard.emit(result('write to x@y.io'));
    await b.guard.settled();
    expect(b.out).toMatchObject([{ type: 'result', message: { content: 'write to [EMAIL]' } }]);
  });

  it('during_call holds every event until the request check ends, and refuses before anything is sent', async () => {
    const { guard, out } = guarded(['mx'], { messages: [{ role: 'user', content: 'a long question with many words' }] });
    guard.emit({ type: 'chunk', delta: { content: 'hello' } });
    guard.emit(done);
    await guard.settled();
    expect(out).toEqual([{ type: 'error', status: 400, error: expect.objectContaining({ code: 'guardrail_blocked' }) as unknown }]);
  });

  it('Anthropic-native frames: pass as they came with during_call only; refused when post_call applies', async () => {
    const frames = 'event: content_block_delta\ndata: {"delta":{"text":"ada@example.com"}}\n\n';
    const during = guarded(['mx'], {});
    during.guard.emit({ type: 'chunk', delta: {}, native: frames, provider: 'anthropic', attempts: 1 });
    during.guard.emit(done);
    await during.guard.settled();
    expect(during.out).toEqual([{ type: 'chunk', delta: {}, native: frames, provider: 'anthropic', attempts: 1 }, done]);

    const post = guarded(['pii']);
    post.guard.emit({ type: 'chunk', delta: {}, native: frames });
    post.guard.emit(done);
    await post.guard.settled();
    expect(post.out.map((e) => e.type)).toEqual(['error']);
    expect(JSON.stringify(post.out)).not.toContain('ada@');
    expect(post.aborted()).toBe(1);
  });
});
