// Everything the ingress offers beyond one request / one response: Files and Batch API, async
// requests, resumable streams and the WebSocket. Built once per ingress; server.ts calls into it from
// a few delimited lines (SSE event ids, the grace period, `Prefer: respond-async`).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Nats } from '../../shared/nats/connection.ts';
import type { Db } from '../../shared/db/database.ts';
import type { SwitchyardConfig } from '../../shared/config/env.ts';
import type { ChatCompletionRequest } from '../../shared/protocol/openai.ts';
import type { Logger } from '../../shared/telemetry/logger.ts';
import type { Admission } from './admission.ts';
import type { KeyAuthenticator } from './auth.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { Route } from './routing.ts';
import { AsyncRequests, wantsAsync } from './async-requests.ts';
import { batchesRoutes } from './batches.ts';
import { publishNotice } from '../../shared/nats/best-effort.ts';
import { subjects } from '../../shared/nats/topology.ts';
import { filesRoutes } from './files.ts';
import { maxRequestBodyBytes } from '../../shared/nats/payload-limits.ts';
import { StreamResume } from './resumable.ts';
import { websocketRoutes } from './websocket.ts';
import type { IngressGuardrails } from './guardrails.ts';

export interface AsyncWorkOptions {
  config: SwitchyardConfig;
  nats: Nats;
  db: Db;
  log: Logger;
  auth: KeyAuthenticator;
  dispatcher: Dispatcher;
  authenticate: (req: FastifyRequest) => Promise<void>;
  /** Tenant rate limits and budgets (admission.ts); WebSocket requests are admitted like HTTP ones. */
  admission?: Admission;
  /** Content guardrails (guardrails.ts): WebSocket requests are checked like HTTP ones. */
  guardrails?: IngressGuardrails;
}

export interface AsyncWork {
  resume: StreamResume;
  wantsAsync(req: FastifyRequest): boolean;
  acceptAsync(req: FastifyRequest, reply: FastifyReply, body: ChatCompletionRequest, route: Route): Promise<unknown>;
  routes(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

export async function createAsyncWork(opts: AsyncWorkOptions): Promise<AsyncWork> {
  const { config, nats, db, log, auth, dispatcher, authenticate, admission, guardrails } = opts;
  const resume = await StreamResume.create({
    nats,
    dispatcher,
    log,
    graceMs: config.STREAM_RESUME_GRACE_MS,
  });
  const asyncRequests = new AsyncRequests({ config, nats, db, log, resume, authenticate });
  await asyncRequests.start();
  return {
    resume,
    wantsAsync,
    acceptAsync: (req, reply, body, route) => asyncRequests.accept(req, reply, body, route),
    async routes(app) {
      await app.register(filesRoutes, { config, db, authenticate, maxLineBytes: () => maxRequestBodyBytes(nats.nc) });
      await app.register(batchesRoutes, { db, authenticate, onCreated: () => publishNotice(nats.nc, subjects.batchCreated) });
      await app.register(asyncRequests.routes);
      await app.register(websocketRoutes, {
        config,
        auth,
        dispatcher,
        resume,
        log,
        ...(admission ? { admission } : {}),
        ...(guardrails ? { guardrails } : {}),
      });
    },
    async close() {
      await asyncRequests.close();
      resume.close();
    },
  };
}
