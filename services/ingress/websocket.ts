// GET /v1/ws: many chat completions multiplexed on one WebSocket (protocol: docs/websocket.md,
// schemas: shared/protocol/websocket.ts). Authenticated at the upgrade, from the Authorization header
// or a `bearer.<key>` / `openai-insecure-api-key.<key>` subprotocol (browsers cannot set headers).
// Requests go through the same Dispatcher as HTTP; events are relayed as frames with the worker's
// sequence numbers, so `resume` (here or over SSE, on any ingress) continues exactly after a seq.
// Backpressure: above WS_HIGH_WATER_BYTES buffered for a socket we stop reading it (no new requests
// are taken); above WS_MAX_BUFFERED_BYTES the socket is dropped and its requests detached.
// A key holds at most WS_MAX_SOCKETS_PER_KEY sockets per ingress; when it is revoked or expires, its
// sockets get an auth error frame, their requests are cancelled, and they close (4401).
import type { IngressGuardrails } from './guardrails.ts';
import { STATUS_CODES } from '../../shared/runtime/node-http.ts';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import { ApiError, errors } from '../../shared/protocol/errors.ts';
import type { StreamEvent } from '../../shared/protocol/events.ts';
import { chatCompletionRequestSchema, zodIssueToParam } from '../../shared/protocol/openai.ts';
import {
  WS_CLOSE,
  WS_KEY_PROTOCOL_PREFIXES,
  WS_SUBPROTOCOL,
  wsClientMessageSchema,
  type WsChunk,
  type WsDone,
  type WsServerMessage,
} from '../../shared/protocol/websocket.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import type { Admission, Admitted } from './admission.ts';
import type { KeyAuthenticator } from './auth.ts';
import type { Dispatcher } from './dispatcher.ts';
import { requestIdMaker } from './request-ids.ts';
import { documentRoute } from './openapi/registry.ts';
import { KeySockets } from './key-sockets.ts';
import { assertModelAllowed } from './model-policy.ts';
import type { StreamResume } from './resumable.ts';
import { resolveRoute } from './routing.ts';
import { principalOf } from './principal.ts';
import { assertRouteConfigured } from '../../shared/config/providers.ts';
import { answerHandshakeError } from './framework-errors.ts';
import { validate } from '../../shared/protocol/request-errors.ts';
import { exceedsJsonDepth } from '../../shared/protocol/json-depth.ts';
import { AttemptLock } from './attempt-lock.ts';
import { settlementOf } from './request-dispatch.ts';
import { IdTable } from '../../shared/runtime/id-table.ts';

export interface WebSocketOptions {
  config: SwitchyardConfig;
  auth: KeyAuthenticator;
  dispatcher: Dispatcher;
  resume: StreamResume;
  log: Logger;
  admission?: Admission;
  /** Content guardrails: pre_call here, the rest in the worker (names in the request envelope). */
  guardrails?: IngressGuardrails;
}

/** The part of a `ws` WebSocket used here (ws ships no type declarations in this tree). */
interface WebSocket {
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  pause(): void;
  resume(): void;
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'close' | 'pong', fn: () => void): void;
}

interface Live {
  requestId: string;
  finished: boolean;
  /** Admission ticket (rate limits, budget), settled once when the request ends. */
  admitted?: Admitted;
  /** Stops a resume replay. */
  abort?: AbortController;
}

/** The API key from the Authorization header or a key subprotocol. */
export function wsAuthorization(req: FastifyRequest): string | undefined {
  if (req.headers.authorization) return req.headers.authorization;
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((s) => s.trim());
  for (const p of offered) {
    for (const prefix of WS_KEY_PROTOCOL_PREFIXES)
      if (p.startsWith(prefix) && p.length > prefix.length) return `Bearer ${p.slice(prefix.length)}`;
  }
  return undefined;
}

export async function websocketRoutes(app: FastifyInstance, opts: WebSocketOptions): Promise<void> {
  const { config, auth, dispatcher, resume, log, admission } = opts;
  const newRequestId = requestIdMaker(dispatcher.ingressId);
  const sockets = new Map<WebSocket, { alive: boolean }>();
  const keySockets = new KeySockets(config.WS_MAX_SOCKETS_PER_KEY);
  auth.onKeyRevoked((keyId) => keySockets.revoked(keyId));

  await app.register(websocket, {
    options: {
      maxPayload: 32 * 1024 * 1024,
      // The answer is always our fixed protocol name, never an offered one: `bearer.<key>` echoed
      // back would put the key in every proxy log of the response. A client must offer
      // `switchyard.v1` next to its key protocol (a browser fails a handshake whose answer it did not offer).
      handleProtocols: () => WS_SUBPROTOCOL,
    },
  });
  // A malformed handshake gets the OpenAI envelope too, not ws's plain-text 400.
  app.websocketServer.on('wsClientError', answerHandshakeError);

  const keepalive = setInterval(() => {
    for (const [ws, state] of sockets) {
      if (!state.alive) {
        ws.close(WS_CLOSE.keepaliveTimeout, 'keepalive timeout');
        ws.terminate();
        continue;
      }
      state.alive = false;
      ws.ping();
    }
  }, config.WS_PING_INTERVAL_MS);
  keepalive.unref();
  // Revocations arrive by broadcast within milliseconds; this re-check at the auth cache's pace
  // closes the sockets of a revocation this ingress did not hear.
  const recheck = setInterval(() => {
    auth.revokedAmong(keySockets.keyIds()).then(
      (revoked) => revoked.forEach((keyId) => keySockets.revoked(keyId)),
      (err: Error) => log.warn({ err: err.message }, 'revocation re-check of open sockets failed'),
    );
  }, config.AUTH_CACHE_TTL_MS || 30_000);
  recheck.unref();
  app.addHook('onClose', async () => {
    clearInterval(keepalive);
    clearInterval(recheck);
  });

  app.get(
    '/v1/ws',
    {
      websocket: true,
      onRequest: async (req, reply) => {
        try {
          req.principal = await auth.authenticate(wsAuthorization(req));
          const keyId = req.principal.keyId;
          // Only an upgrade becomes a socket; a plain GET here must not take (and pin) a slot.
          const upgrading = String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
          if (upgrading && !keySockets.reserve(keyId))
            throw new ApiError(429, `At most ${config.WS_MAX_SOCKETS_PER_KEY} WebSockets may be open per API key.`, {
              code: 'too_many_sockets',
              headers: { 'retry-after': '1' },
            });
          // The slot lives as long as the TCP connection: an upgrade that fails later frees it too.
          if (upgrading) req.raw.socket.once('close', () => keySockets.release(keyId));
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          // Refuse the upgrade with a plain HTTP answer in the OpenAI envelope, written on the socket
          // itself (no reply object exists for a request that asked to upgrade).
          reply.hijack();
          const body = JSON.stringify(err.toBody());
          const extra = Object.entries(err.headers)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join('');
          req.raw.socket.end(
            `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${req.id}\r\n${extra}connection: close\r\n\r\n${body}`,
          );
          return;
        }
        // Plain HTTP without an upgrade: say so in the envelope rather than the plugin's empty 404.
        if (!req.ws)
          throw new ApiError(426, 'GET /v1/ws must be a WebSocket upgrade (Upgrade: websocket).', {
            code: 'upgrade_required',
            headers: { upgrade: 'websocket' },
          });
      },
    },
    (rawSocket, req) => {
      const socket = rawSocket as unknown as WebSocket;
      const principal = principalOf(req);
      const live = new IdTable<Live>();
      const state = { alive: true };
      sockets.set(socket, state);
      let paused = false;
      let drainTimer: NodeJS.Timeout | null = null;
      let closed = false;

      socket.on('pong', () => (state.alive = true));

      /** The key lost its rights while the socket was open: nothing more may run on its behalf. */
      const closeUnauthorized = (message: string) => {
        if (closed) return;
        fail(null, new ApiError(401, message, { code: 'invalid_api_key' }));
        for (const entry of live.values()) {
          if (entry.finished) continue;
          entry.finished = true;
          entry.admitted?.settle('unknown');
          entry.abort?.abort();
          dispatcher.cancel(entry.requestId);
        }
        live.clear();
        socket.close(WS_CLOSE.unauthorized, 'api key no longer valid');
        closed = true;
      };
      const untrack = keySockets.track(principal.keyId, () => closeUnauthorized('The API key was revoked.'));
      const msToExpiry = principal.expiresAt ? principal.expiresAt.getTime() - Date.now() : Infinity;
      // setTimeout cannot wait longer than ~24.8 days; create() checks expiry as well.
      const expiryTimer =
        msToExpiry < 2 ** 31 - 1 ? setTimeout(() => closeUnauthorized('The API key has expired.'), Math.max(0, msToExpiry)) : null;

      const send = (msg: WsServerMessage) => {
        if (closed) return;
        if (socket.bufferedAmount > config.WS_MAX_BUFFERED_BYTES) {
          log.warn({ buffered: socket.bufferedAmount }, 'websocket client too slow; dropping the socket');
          socket.close(WS_CLOSE.slowConsumer, 'slow consumer');
          socket.terminate();
          // 'close' comes a turn later; the chunks still arriving until then are dropped unlogged.
          closed = true;
          return;
        }
        socket.send(JSON.stringify(msg));
        if (!paused && socket.bufferedAmount > config.WS_HIGH_WATER_BYTES) {
          // Stop reading: no new requests from this socket until what we owe it has drained.
          paused = true;
          socket.pause();
          drainTimer = setInterval(() => {
            if (socket.bufferedAmount <= config.WS_HIGH_WATER_BYTES / 2) {
              paused = false;
              socket.resume();
              clearInterval(drainTimer!);
              drainTimer = null;
            }
          }, 20);
        }
      };
      const fail = (id: string | null, err: ApiError) => send({ type: 'error', id, status: err.status, error: err.toBody().error });

      /** Relays one request's events; as in the SSE path only one attempt may speak (attempt-lock.ts). */
      const relay = (id: string, entry: Live) => {
        const attempts = new AttemptLock();
        return (received: StreamEvent): boolean => {
          if (entry.finished) return true;
          const ev = attempts.admit(received);
          if (!ev) return false;
          if (ev.type === 'chunk') {
            send({ type: 'chunk', id, seq: ev.seq, delta: ev.delta as WsChunk['delta'] });
            return false;
          }
          entry.finished = true;
          live.delete(id);
          // An error after this request's tokens went out settles as unknown, as on the HTTP routes.
          entry.admitted?.settle(settlementOf(ev, attempts.locked !== 0));
          if (ev.type === 'done')
            send({
              type: 'done',
              id,
              seq: ev.seq,
              finish_reason: ev.finish_reason,
              usage: ev.usage as WsDone['usage'],
              model: ev.model,
              ...(ev.simulated ? { simulated: true as const } : {}),
            });
          else if (ev.type === 'error') send({ type: 'error', id, status: ev.status, error: ev.error });
          else fail(id, new ApiError(502, 'The worker answered with an unexpected event.', { type: 'server_error' }));
          return true;
        };
      };

      const create = async (id: string, raw: Record<string, unknown>) => {
        if (principal.expiresAt && principal.expiresAt.getTime() <= Date.now()) throw errors.invalidKey();
        const body = validate(chatCompletionRequestSchema, raw, 'body.');
        assertModelAllowed(principal, body.model);
        const route = resolveRoute(body.model, config.DEFAULT_PROVIDER, config.file);
        assertRouteConfigured(config, route.targets ?? [route]);
        const requestId = newRequestId();
        const entry: Live = { requestId, finished: false };
        live.set(id, entry); // the id is taken from here on, also while admission decides
        // Throws guardrail_blocked / guardrail_unavailable like HTTP; a masked body is what gets queued.
        const checking = opts.guardrails?.check(principal, requestId, raw, body.model, route, opts.log);
        const guarded = checking ? await checking : null;
        const admitting = admission?.admit(principal, route.targets ?? [route], raw, 'chat');
        if (admitting) entry.admitted = await admitting;
        if (entry.finished) return entry.admitted?.settle('failed'); // cancelled or socket gone meanwhile
        const created = Math.floor(Date.now() / 1000);
        resume.remember(requestId, { tenantId: principal.tenantId, model: body.model, created, includeUsage: true });
        const onEvent = relay(id, entry);
        send({ type: 'accepted', id, request_id: requestId });
        try {
          await dispatcher.submit(
            {
              requestId,
              principal,
              kind: 'chat',
              route,
              publicModel: body.model,
              stream: true,
              body: JSON.stringify({ ...(guarded?.masked ?? raw), stream: true }),
              ...(guarded?.workerGuardrails.length ? { guardrails: guarded.workerGuardrails } : {}),
            },
            {
              onEvent,
              onTimeout: () => {
                if (entry.finished) return;
                entry.admitted?.settle('unknown');
                entry.finished = true;
                live.delete(id);
                fail(id, errors.timeout());
              },
            },
          );
        } catch (err) {
          // As over HTTP: a refused store after the run began (local execution) keeps the estimates.
          entry.admitted?.settle(err instanceof ApiError ? settlementOf(err, false) : 'failed');
          entry.finished = true;
          live.delete(id);
          throw err;
        }
      };

      const resumeRequest = async (id: string, requestId: string, afterSeq: number) => {
        const owner = await resume.owner(requestId);
        if (!owner || owner.tenantId !== principal.tenantId) throw errors.notFound(`Request '${requestId}'`);
        const entry: Live = { requestId, finished: false, abort: new AbortController() };
        live.set(id, entry);
        resume.attached(requestId);
        const onEvent = relay(id, entry);
        await resume.replay(owner, afterSeq, onEvent, { signal: entry.abort!.signal, maxWaitMs: config.REQUEST_TIMEOUT_MS });
        if (!entry.finished && !closed && live.get(id) === entry) {
          entry.finished = true;
          live.delete(id);
          fail(id, errors.timeout());
        }
      };

      socket.on('message', (data, isBinary) => {
        if (closed) return; // closing (e.g. key revoked): nothing more is taken from it
        let msg;
        try {
          if (isBinary) throw new Error('binary frames are not part of the protocol');
          if (Buffer.isBuffer(data) && exceedsJsonDepth(data, config.MAX_JSON_DEPTH))
            throw new Error(`the message nests arrays and objects deeper than ${config.MAX_JSON_DEPTH} levels`);
          const parsed = wsClientMessageSchema.safeParse(JSON.parse(String(data)));
          if (!parsed.success) {
            const issue = parsed.error.issues[0]!;
            throw new Error(`${zodIssueToParam(issue)}: ${issue.message}`);
          }
          msg = parsed.data;
        } catch (err) {
          fail(null, new ApiError(400, `Unreadable message: ${(err as Error).message}`, { code: 'invalid_message' }));
          return;
        }
        if (msg.type === 'ping') return send({ type: 'pong', data: msg.data });
        if (msg.type === 'cancel') {
          const entry = live.get(msg.id);
          if (!entry) return fail(msg.id, errors.notFound(`Request '${msg.id}' on this socket`));
          entry.admitted?.settle('unknown');
          entry.finished = true;
          live.delete(msg.id);
          entry.abort?.abort();
          dispatcher.cancel(entry.requestId);
          return fail(msg.id, new ApiError(499, 'Cancelled by the client.', { code: 'cancelled' }));
        }
        // The message is refused, not the running request with that id: a socket-level error.
        if (live.has(msg.id))
          return fail(null, new ApiError(409, `Request id '${msg.id}' is already in use on this socket.`, { code: 'duplicate_id' }));
        if (live.size >= config.WS_MAX_REQUESTS_PER_SOCKET)
          return fail(
            msg.id,
            new ApiError(429, `At most ${config.WS_MAX_REQUESTS_PER_SOCKET} requests may run on one socket.`, {
              code: 'too_many_requests',
            }),
          );
        const id = msg.id;
        const work = msg.type === 'create' ? create(id, msg.body) : resumeRequest(id, msg.request_id, msg.after_seq ?? 0);
        work.catch((err: unknown) => {
          const e = err instanceof ApiError ? err : new ApiError(500, 'Internal server error.', { type: 'server_error' });
          if (!(err instanceof ApiError)) log.error({ err }, 'websocket request failed');
          live.delete(id);
          fail(id, e);
        });
      });

      socket.on('close', () => {
        closed = true;
        untrack();
        if (expiryTimer) clearTimeout(expiryTimer);
        sockets.delete(socket);
        if (drainTimer) clearInterval(drainTimer);
        // Running requests stay resumable for the grace period, then are cancelled.
        for (const entry of live.values()) {
          if (entry.finished) continue;
          entry.admitted?.settle('unknown');
          entry.abort?.abort();
          resume.detach(entry.requestId);
        }
        live.clear();
      });
    },
  );
}

// ---- OpenAPI (services/ingress/openapi) ----
documentRoute('GET /v1/ws', {
  summary: 'WebSocket: chat completions multiplexed on one socket (docs/websocket.md)',
  description: 'Authenticated at the upgrade by the Authorization header or a `bearer.<key>` subprotocol.',
  tags: ['OpenAI'],
  auth: 'tenant',
  headers: { Upgrade: 'websocket' },
  responses: { 101: { description: 'Switching protocols.' } },
});
