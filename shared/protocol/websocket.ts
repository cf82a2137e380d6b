// The WebSocket protocol of GET /v1/ws (docs/websocket.md). One JSON object per text frame. Many
// requests share a socket; each carries the client's own `id`. The JSON Schema in the docs is
// generated from these zod schemas (z.toJSONSchema), so the two cannot drift.
import { z } from 'zod';

/** Subprotocol the server selects; offer it next to `bearer.<key>` when authenticating from a browser. */
export const WS_SUBPROTOCOL = 'switchyard.v1';
/** Subprotocol prefixes that carry the API key (browsers cannot set an Authorization header). */
export const WS_KEY_PROTOCOL_PREFIXES = ['bearer.', 'openai-insecure-api-key.'] as const;

const clientId = z.string().min(1).max(128);

export const wsCreateSchema = z.object({
  type: z.literal('create'),
  id: clientId,
  /** Same body as POST /v1/chat/completions; the answer always streams. */
  body: z.record(z.string(), z.unknown()),
});

export const wsCancelSchema = z.object({ type: z.literal('cancel'), id: clientId });

export const wsResumeSchema = z.object({
  type: z.literal('resume'),
  id: clientId,
  /** The server's request id (from `accepted`), possibly of a request started on another socket. */
  request_id: z.string().min(1),
  /** Last `seq` the client has; frames after it are sent. 0 or absent: from the start. */
  after_seq: z.number().int().nonnegative().optional(),
});

export const wsPingSchema = z.object({ type: z.literal('ping'), data: z.unknown().optional() });

export const wsClientMessageSchema = z.discriminatedUnion('type', [wsCreateSchema, wsCancelSchema, wsResumeSchema, wsPingSchema]);

const errorBody = z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() });
const usage = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }).loose();
const delta = z
  .object({
    role: z.literal('assistant').optional(),
    content: z.string().optional(),
    reasoning_content: z.string().optional(),
    tool_calls: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .loose();

export const wsAcceptedSchema = z.object({ type: z.literal('accepted'), id: clientId, request_id: z.string() });
export const wsChunkSchema = z.object({ type: z.literal('chunk'), id: clientId, seq: z.number().int().positive(), delta });
export const wsDoneSchema = z.object({
  type: z.literal('done'),
  id: clientId,
  seq: z.number().int().positive(),
  finish_reason: z.string().nullable(),
  usage,
  model: z.string(),
  /** Present (true) when the answer came from a built-in simulator, not a real upstream. */
  simulated: z.literal(true).optional(),
});
export const wsErrorSchema = z.object({
  type: z.literal('error'),
  /** Null when the error is about the socket or an unreadable message, not one request. */
  id: clientId.nullable(),
  status: z.number().int(),
  error: errorBody,
});
export const wsPongSchema = z.object({ type: z.literal('pong'), data: z.unknown().optional() });

export const wsServerMessageSchema = z.discriminatedUnion('type', [
  wsAcceptedSchema,
  wsChunkSchema,
  wsDoneSchema,
  wsErrorSchema,
  wsPongSchema,
]);

export type WsClientMessage = z.infer<typeof wsClientMessageSchema>;
export type WsServerMessage = z.infer<typeof wsServerMessageSchema>;
export type WsCreate = z.infer<typeof wsCreateSchema>;
export type WsChunk = z.infer<typeof wsChunkSchema>;
export type WsDone = z.infer<typeof wsDoneSchema>;
export type WsError = z.infer<typeof wsErrorSchema>;

/** Close codes the server uses. */
export const WS_CLOSE = {
  /** The client did not read fast enough: more than WS_MAX_BUFFERED_BYTES queued for it. */
  slowConsumer: 4008,
  /** No pong to the server's ping within one interval. */
  keepaliveTimeout: 4000,
  /** The socket's API key was revoked or expired while it was open (an `error` frame says which). */
  unauthorized: 4401,
} as const;

/** The protocol as JSON Schema (docs/websocket.md embeds this; a unit test keeps the two equal). */
export function wsJsonSchema() {
  const strip = (s: Record<string, unknown>) => {
    const { $schema: _s, ...rest } = s;
    return rest;
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Switchyard WebSocket protocol (GET /v1/ws)',
    $defs: {
      ClientMessage: strip(z.toJSONSchema(wsClientMessageSchema)),
      ServerMessage: strip(z.toJSONSchema(wsServerMessageSchema)),
    },
  };
}
