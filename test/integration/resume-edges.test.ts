// Resume edge cases: every SSE frame after the opening role chunk carries an `id:` (chunks, finish,
// usage, errors; live and replayed), and resuming after the last one ends at once with [DONE] instead
// of waiting forever; the same for a WebSocket `resume` after the last seq.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness/stack.ts';
import { waitFor } from '../harness/ports.ts';
import { SwitchyardWsClient } from '../../shared/client/ws-client.ts';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { STREAM_RESUME_GRACE_MS: '300' } });
});
afterAll(async () => stack?.close());

interface Frame {
  id?: string;
  event?: string;
  data: string;
}

const auth = () => ({ authorization: `Bearer ${stack.apiKey}` });
// A resume that hangs would otherwise only show as the test timeout.
const quickly = () => AbortSignal.timeout(5_000);

async function readFrames(res: Response): Promise<Frame[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((block) => {
      const f: Frame = { data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) f.id = line.slice(4);
        else if (line.startsWith('event: ')) f.event = line.slice(7);
        else if (line.startsWith('data: ')) f.data += line.slice(6);
      }
      return f;
    });
}

async function stream(content: string, includeUsage: boolean) {
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    signal: quickly(),
    headers: { 'content-type': 'application/json', ...auth() },
    body: JSON.stringify({
      model: 'openai/gpt-4o-mini',
      stream: true,
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      messages: [{ role: 'user', content }],
    }),
  });
  return { requestId: res.headers.get('x-request-id')!, frames: await readFrames(res) };
}

async function resumeAt(requestId: string, lastEventId: string) {
  const res = await fetch(`${stack.url}/v1/requests/${requestId}/events`, {
    signal: quickly(),
    headers: { ...auth(), 'last-event-id': lastEventId },
  });
  expect(res.status).toBe(200);
  return readFrames(res);
}

/** Every frame but the role chunk and [DONE] has an id, and the ids rise by one. */
function expectIdsOnEveryFrame(frames: Frame[]) {
  const middle = frames.slice(1, -1);
  expect(frames.at(-1)!.data).toBe('[DONE]');
  expect(middle.every((f) => f.id !== undefined)).toBe(true);
  const ids = middle.map((f) => Number(f.id));
  expect(ids).toEqual(ids.map((_, i) => ids[0]! + i));
}

describe('resume edge cases (SSE)', () => {
  it('a live stream ids its finish chunk; resuming after it sends only [DONE], at once', async () => {
    const { requestId, frames } = await stream('s\nmock:{"tokens":3}', false);
    expectIdsOnEveryFrame(frames);
    const finish = frames.at(-2)!;
    expect(finish.data).toContain('"finish_reason":"stop"');
    expect(await resumeAt(requestId, finish.id!)).toEqual([{ data: '[DONE]' }]);
    // One before the end: the finish chunk again, then [DONE].
    const before = await resumeAt(requestId, String(Number(finish.id) - 1));
    expect(before.map((f) => f.id)).toEqual([finish.id, undefined]);
  });

  it('with include_usage the usage chunk has its own id after the finish chunk', async () => {
    const { requestId, frames } = await stream('s\nmock:{"tokens":2}', true);
    expectIdsOnEveryFrame(frames);
    const [finish, usage] = frames.slice(-3, -1);
    expect(finish!.data).toContain('"finish_reason":"stop"');
    expect(usage!.data).toContain('"usage":{');
    const afterFinish = await resumeAt(requestId, finish!.id!);
    expect(afterFinish.map((f) => f.id)).toEqual([usage!.id, undefined]);
    expect(await resumeAt(requestId, usage!.id!)).toEqual([{ data: '[DONE]' }]);
  });

  it('an error event carries an id; resuming after it ends at once', async () => {
    const { requestId, frames } = await stream('s\nmock:{"tokens":6,"itl_ms":5,"drop_after":2}', false);
    const error = frames.find((f) => f.event === 'error');
    expect(error?.id).toBeDefined();
    expect(Number(error!.id)).toBeGreaterThan(Number(frames.filter((f) => f.id && !f.event).at(-1)!.id));
    expect(await resumeAt(requestId, error!.id!)).toEqual([{ data: '[DONE]' }]);
  });

  it('an async request replays with ids on the content and finish chunks; resuming after the finish sends only [DONE]', async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async', ...auth() },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'a\nmock:{"text":"async answer"}' }] }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await waitFor(
      async () =>
        ((await (await fetch(`${stack.url}/v1/requests/${id}`, { headers: auth() })).json()) as { status: string }).status === 'completed',
      { what: 'async result' },
    );
    const all = await readFrames(await fetch(`${stack.url}/v1/requests/${id}/events`, { signal: quickly(), headers: auth() }));
    expectIdsOnEveryFrame(all);
    const finish = all.at(-2)!;
    expect(finish.data).toContain('"finish_reason":"stop"');
    expect(await resumeAt(id, finish.id!)).toEqual([{ data: '[DONE]' }]);
  });
});

describe('resume edge cases (WebSocket)', () => {
  it('a resume after the last seq ends at once with done', async () => {
    const ws = await SwitchyardWsClient.connect(stack.url, stack.apiKey);
    try {
      const h = ws.chat({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'w\nmock:{"tokens":3}' }] });
      const first = await h.result;
      const lastSeq = first.done.seq;
      const started = Date.now();
      const again = await Promise.race([
        ws.resume(await h.requestId, lastSeq).result,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('resume did not end')), 5_000)),
      ]);
      expect(again.chunks).toEqual([]);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      ws.close();
    }
  });
});
