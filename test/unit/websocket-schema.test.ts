// docs/websocket.md embeds the protocol's JSON Schema; it must be what the zod schemas generate.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wsClientMessageSchema, wsJsonSchema, wsServerMessageSchema } from '../../shared/protocol/websocket.ts';

describe('WebSocket protocol schema', () => {
  it('docs/websocket.md carries the schema generated from shared/protocol/websocket.ts', () => {
    const doc = readFileSync('docs/websocket.md', 'utf8');
    const block = /## JSON Schema\s+```json\n([\s\S]*?)\n```/.exec(doc);
    expect(block).not.toBeNull();
    expect(JSON.parse(block![1]!)).toEqual(wsJsonSchema());
  });

  it('accepts the documented messages and refuses malformed ones', () => {
    expect(wsClientMessageSchema.safeParse({ type: 'create', id: 'a', body: { model: 'm', messages: [] } }).success).toBe(true);
    expect(wsClientMessageSchema.safeParse({ type: 'resume', id: 'a', request_id: 'req_1', after_seq: 3 }).success).toBe(true);
    expect(wsClientMessageSchema.safeParse({ type: 'resume', id: 'a', request_id: 'req_1', after_seq: -1 }).success).toBe(false);
    expect(wsClientMessageSchema.safeParse({ type: 'cancel' }).success).toBe(false);
    expect(wsClientMessageSchema.safeParse({ type: 'create', id: '', body: {} }).success).toBe(false);
    expect(wsServerMessageSchema.safeParse({ type: 'chunk', id: 'a', seq: 0, delta: {} }).success).toBe(false);
    expect(
      wsServerMessageSchema.safeParse({ type: 'error', id: null, status: 400, error: { message: 'x', type: 't', param: null, code: null } })
        .success,
    ).toBe(true);
  });
});
